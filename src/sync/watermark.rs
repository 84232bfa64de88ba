//! The highest event id below which no transaction is still in flight (see store::outbox).

use crate::store::outbox;
use crate::store::{AnyConnection, Backend, StoreError};

/// Per-worker state: the safe bound, and a candidate bound waiting for its transactions to end.
#[derive(Debug, Default)]
pub struct Watermark {
    safe: i64,
    pending: Option<(i64, Vec<String>)>,
}

impl Watermark {
    /// Advances and returns the safe bound.
    pub fn advance(&mut self, conn: &mut AnyConnection) -> Result<i64, StoreError> {
        if conn.backend() == Backend::Sqlite {
            // One writer at a time: everything visible is final.
            self.safe = self.safe.max(outbox::last_event_id(conn)?);
            return Ok(self.safe);
        }
        if let Some((l, xids)) = &self.pending {
            if outbox::still_running(conn, xids)? > 0 {
                return Ok(self.safe);
            }
            self.safe = self.safe.max(*l);
            self.pending = None;
        }
        // Read the sequence first, then draw a fresh transaction id, then the in-flight set:
        // every writer holding an event id <= l had its transaction id before (it wrote the
        // version row first), so it is below `fresh` and listed if still running.
        let l = outbox::last_event_id(conn)?;
        if l <= self.safe {
            return Ok(self.safe);
        }
        let fresh = outbox::fresh_xid(conn)?;
        let xids: Vec<String> = outbox::in_flight_xids(conn)?
            .into_iter()
            .filter(|x| x.parse::<u64>().is_ok_and(|x| x < fresh))
            .collect();
        if outbox::still_running(conn, &xids)? == 0 {
            self.safe = l;
        } else {
            self.pending = Some((l, xids));
        }
        Ok(self.safe)
    }
}
