//! Per-patient ordering across connections: messages about one patient are applied one at a time,
//! in the order they asked for the lock (tokio's mutex is fair, FIFO). Entries are dropped when the
//! last holder or waiter lets go, so the map only holds patients with messages in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Key = (String, String);

#[derive(Clone, Default)]
pub struct PatientLocks {
    map: Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>,
}

/// Held while one message about the patient is applied.
pub struct PatientGuard {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    key: Key,
    locks: PatientLocks,
}

impl PatientLocks {
    pub async fn lock(&self, key: &Key) -> PatientGuard {
        let m = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let guard = m.lock_owned().await;
        PatientGuard {
            guard: Some(guard),
            key: key.clone(),
            locks: self.clone(),
        }
    }

    /// Patients with a message in flight (for tests).
    pub fn in_flight(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for PatientGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map still holds it: nobody holds or waits for this patient.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serialises_one_patient_and_cleans_up() {
        let locks = PatientLocks::default();
        let k = ("urn:mrn".to_string(), "1".to_string());
        let g = locks.lock(&k).await;
        let l2 = locks.clone();
        let k2 = k.clone();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock(&k2).await;
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let other = locks.lock(&("urn:mrn".into(), "2".into())).await;
        drop(other);
        drop(g);
        waiter.await.unwrap();
        assert_eq!(locks.in_flight(), 0);
    }
}
