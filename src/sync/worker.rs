//! The delivery worker of one process: handshakes for new Subscriptions, fan-out of committed
//! events, claiming due deliveries and sending them. `run_once` does one full round (tests step it);
//! `run` loops, woken by local commits, Redis (other nodes) or the poll interval.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use awc::http::Method;
use tokio::sync::Notify;

use crate::error::Error;
use crate::interactions::Services;
use crate::store::outbox::{self, Delivery, Outcome, SubscriptionRow};
use crate::store::{now_micros, resources};

use super::channel::{self, Request, Sent};
use super::config::{Hl7Destination, SyncConfig};
use super::fanout::{self, MIRROR};
use super::hl7out;
use super::mirror::{self, MirrorChange, MirrorResult};
use super::notify::{self, EventEntry};
use super::watermark::Watermark;
use super::{backoff, guard, substatus, wake};

/// Runs blocking store work off the async executor threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    actix_web::web::block(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Starts this process's worker on the current actix system (unless sync is disabled).
pub fn start(config: &crate::config::Config, services: &Services, addr: std::net::SocketAddr) {
    if !config.sync.enabled {
        return;
    }
    let base = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/fhir"));
    let worker = Worker::new(services.clone(), config.sync.clone(), &base);
    actix_web::rt::spawn(worker.run(services.store.commits()));
}

/// One process's worker. Not `Send` (the HTTP client lives on the actix thread that runs it).
#[derive(Clone)]
pub struct Worker {
    services: Services,
    cfg: Arc<SyncConfig>,
    /// Our public FHIR base (references in notifications).
    base: Rc<str>,
    owner: Arc<str>,
    watermark: Arc<Mutex<Watermark>>,
    client: awc::Client,
    /// When this worker last pruned old deliveries.
    last_prune: Arc<Mutex<Option<std::time::Instant>>>,
    /// A watermark this worker's fan-out is known to have reached: a round that finds the same
    /// watermark skips the fan-out transaction.
    fanned_to: Arc<Mutex<i64>>,
}

/// After a local commit wakes the worker, it waits this long so that a burst of commits (a busy
/// server) is one round, not one round (several transactions) per commit.
const COALESCE: Duration = Duration::from_millis(5);

impl Worker {
    pub fn new(services: Services, cfg: SyncConfig, base: &str) -> Worker {
        let client = awc::Client::builder()
            .timeout(cfg.request_timeout)
            .disable_redirects()
            .finish();
        Worker {
            services,
            cfg: Arc::new(cfg),
            base: Rc::from(base.trim_end_matches('/')),
            owner: Arc::from(format!("node-{}", uuid::Uuid::new_v4().simple())),
            watermark: Arc::default(),
            client,
            last_prune: Arc::default(),
            fanned_to: Arc::default(),
        }
    }

    /// Loops forever: a round, then wait for a local commit, a Redis message or the poll tick.
    pub async fn run(self, commits: Arc<Notify>) {
        let remote = Arc::new(Notify::new());
        let publisher = self
            .cfg
            .redis_url
            .as_deref()
            .and_then(|u| wake::start(u, remote.clone()));
        let mut failing = false;
        let mut local_commit = false;
        loop {
            if local_commit && let Some(p) = &publisher {
                p.publish().await;
            }
            match self.run_once().await {
                Ok(_) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "sync round failed; retrying");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = commits.notified() => {
                    local_commit = true;
                    actix_web::rt::time::sleep(COALESCE).await;
                }
                _ = remote.notified() => local_commit = false,
                _ = actix_web::rt::time::sleep(self.cfg.poll_interval) => local_commit = false,
            }
        }
    }

    /// One round: handshakes, then fan-out + claim + deliver until nothing is left that is due.
    /// Returns how many events were fanned out plus deliveries attempted.
    pub async fn run_once(&self) -> Result<usize, Error> {
        let mut total = self.handshakes().await?;
        total += self.heartbeats().await?;
        self.prune().await?;
        loop {
            let fanned = self.fan_out().await?;
            let claimed = self.claim().await?;
            let n = claimed.len();
            self.deliver(claimed).await?;
            total += fanned + n;
            if fanned == 0 && n == 0 {
                return Ok(total);
            }
        }
    }

    async fn fan_out(&self) -> Result<usize, Error> {
        let s = self.services.clone();
        let wm = self.watermark.clone();
        let mirror = self.cfg.mirror_url.is_some();
        let hl7: Vec<String> = self
            .cfg
            .hl7_destinations
            .iter()
            .map(|d| d.dest_id())
            .collect();
        let batch = self.cfg.batch.max(1) * 5;
        let fanned_to = self.fanned_to.clone();
        blocking(move || {
            let bound = s.store.read(|c| -> Result<i64, Error> {
                let mut w = wm
                    .lock()
                    .map_err(|_| Error::Internal("watermark lock poisoned".into()))?;
                Ok(w.advance(c)?)
            })?;
            let poisoned = |_| Error::Internal("fan-out mark lock poisoned".into());
            if bound <= *fanned_to.lock().map_err(poisoned)? {
                return Ok(0);
            }
            let n = s
                .store
                .write(|c| fanout::step(c, bound, mirror, &hl7, batch))?;
            // A short batch moved the shared cursor to `bound` (see `fanout::step`).
            if n > 0 && (n as i64) < batch {
                *fanned_to.lock().map_err(poisoned)? = bound;
            }
            Ok(n)
        })
        .await
    }

    async fn claim(&self) -> Result<Vec<Delivery>, Error> {
        let s = self.services.clone();
        let owner = self.owner.clone();
        let lease = micros(self.cfg.lease);
        let batch = self.cfg.batch.max(1);
        blocking(move || {
            // A plain read first: most rounds find nothing due, and the claim itself locks.
            if !s.store.read(|c| outbox::any_due(c, now_micros()))? {
                return Ok(Vec::new());
            }
            s.store.write(|c| -> Result<_, Error> {
                let now = now_micros();
                Ok(outbox::claim(c, &owner, now, now + lease, batch)?)
            })
        })
        .await
    }

    async fn finish(&self, d: &Delivery, outcome: Outcome) -> Result<(), Error> {
        let s = self.services.clone();
        let owner = self.owner.clone();
        let d = d.clone();
        blocking(move || {
            s.store.write(|c| -> Result<(), Error> {
                outbox::finish(c, &d, &owner, &outcome)?;
                if let Some(rec) = export_record(&d, &outcome) {
                    crate::interactions::audit::record_in_tx(c, &rec)?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Records one delivery's outcome. A retry means the destination is failing: the rest of its
    /// rows wait for the same retry time, so that a later version never overtakes this one.
    async fn finish_in_order<'a>(
        &self,
        d: &Delivery,
        outcome: Outcome,
        rest: &mut impl Iterator<Item = &'a Delivery>,
    ) -> Result<(), Error> {
        let retry_at = match &outcome {
            Outcome::Retry { at, .. } => Some(*at),
            _ => None,
        };
        self.finish(d, outcome).await?;
        if let Some(at) = retry_at {
            for r in rest {
                self.finish(r, Outcome::Release { at }).await?;
            }
        }
        Ok(())
    }

    /// Delivers claimed rows: destinations in parallel, each destination's rows in event order.
    async fn deliver(&self, rows: Vec<Delivery>) -> Result<(), Error> {
        let mut by_dest: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        for d in rows {
            by_dest.entry(d.dest_id.clone()).or_default().push(d);
        }
        let jobs = by_dest
            .into_iter()
            .map(|(dest, rows)| self.deliver_dest(dest, rows));
        for r in futures_util::future::join_all(jobs).await {
            r?;
        }
        Ok(())
    }

    async fn deliver_dest(&self, dest: String, rows: Vec<Delivery>) -> Result<(), Error> {
        if dest == MIRROR {
            return self.deliver_mirror(rows).await;
        }
        if let Some(name) = dest.strip_prefix(Hl7Destination::PREFIX) {
            let peer = self.cfg.hl7_destinations.iter().find(|d| d.name == name);
            let Some(peer) = peer.cloned() else {
                // Configured on another node only: leave it to that node.
                let at = now_micros() + micros(self.cfg.poll_interval);
                for d in &rows {
                    self.finish(d, Outcome::Release { at }).await?;
                }
                return Ok(());
            };
            return self.deliver_hl7(&peer, rows).await;
        }
        let Some(sub_id) = dest.strip_prefix("Subscription/").map(str::to_string) else {
            for d in &rows {
                self.finish(d, Outcome::Dead(format!("unknown destination {dest}")))
                    .await?;
            }
            return Ok(());
        };
        let s = self.services.clone();
        let id = sub_id.clone();
        let sub = blocking(move || Ok(s.store.read(|c| outbox::subscription(c, &id))?)).await?;
        let sub = match sub {
            Some(sub) if matches!(sub.status.as_str(), "active" | "error") => sub,
            Some(sub) if sub.status == "requested" => {
                let at = now_micros().max(sub.next_attempt_at) + micros(self.cfg.poll_interval);
                for d in &rows {
                    self.finish(d, Outcome::Release { at }).await?;
                }
                return Ok(());
            }
            _ => {
                for d in &rows {
                    self.finish(d, Outcome::Dead("subscription is off or deleted".into()))
                        .await?;
                }
                return Ok(());
            }
        };
        let mut last_error = None;
        let mut any_ok = false;
        let mut iter = rows.iter();
        while let Some(d) = iter.next() {
            let outcome = self.send_notification(&sub, d).await?;
            match &outcome {
                Outcome::Delivered => any_ok = true,
                Outcome::Retry { error, .. } | Outcome::Dead(error) => {
                    last_error = Some(error.clone())
                }
                _ => {}
            }
            self.finish_in_order(d, outcome, &mut iter).await?;
        }
        self.record_channel(&sub, any_ok, last_error).await
    }

    /// Updates the Subscription's failure count and, on a change, its status (active/error).
    async fn record_channel(
        &self,
        sub: &SubscriptionRow,
        ok: bool,
        error: Option<String>,
    ) -> Result<(), Error> {
        let s = self.services.clone();
        let id = sub.sub_id.clone();
        let err = if ok { None } else { error };
        let threshold = self.cfg.error_after;
        let was = sub.status.clone();
        let next = now_micros()
            + micros(backoff::delay(
                sub.fail_count,
                self.cfg.retry_base,
                self.cfg.retry_max,
            ));
        blocking(move || {
            let fails = s.store.write(|c| -> Result<i32, Error> {
                Ok(outbox::record_channel_result(c, &id, err.as_deref(), next)?)
            })?;
            match &err {
                None if was != "active" => substatus::set(&s, &id, "active", None),
                Some(e) if fails >= threshold && was != "error" => {
                    substatus::set(&s, &id, "error", Some(e))
                }
                _ => Ok(()),
            }
        })
        .await
    }

    async fn send_notification(
        &self,
        sub: &SubscriptionRow,
        d: &Delivery,
    ) -> Result<Outcome, Error> {
        let resource = if sub.content == "full-resource" && d.operation != "delete" {
            self.load_version(d).await?
        } else {
            None
        };
        let body = sub.payload.as_ref().map(|_| {
            notify::bundle(
                &self.base,
                sub,
                "event-notification",
                &[EventEntry {
                    delivery: d,
                    resource,
                }],
            )
        });
        let sent = self.post(sub, body, Some(d.event_id)).await;
        Ok(self.outcome(d.attempts, sent))
    }

    async fn post(&self, sub: &SubscriptionRow, body: Option<Vec<u8>>, event: Option<i64>) -> Sent {
        if let Err(e) = guard::check_resolved(&sub.endpoint, self.cfg.allow_private_endpoints).await
        {
            return Sent::Permanent {
                status: 0,
                message: e,
            };
        }
        let headers = channel::parse_headers(&sub.headers);
        channel::send(
            &self.client,
            Request {
                method: Method::POST,
                url: &sub.endpoint,
                headers: &headers,
                body,
                event_id: event,
            },
            self.cfg.request_timeout,
        )
        .await
    }

    fn outcome(&self, attempts: i32, sent: Sent) -> Outcome {
        match sent {
            Sent::Ok { .. } => Outcome::Delivered,
            Sent::Permanent { message, .. } => Outcome::Dead(message),
            Sent::Transient(error) => {
                let max = self.cfg.max_attempts;
                if max > 0 && attempts + 1 >= i32::try_from(max).unwrap_or(i32::MAX) {
                    return Outcome::Dead(format!("{error} (after {max} attempts)"));
                }
                let delay = backoff::delay(attempts, self.cfg.retry_base, self.cfg.retry_max);
                Outcome::Retry {
                    error,
                    at: now_micros() + micros(delay),
                }
            }
        }
    }

    /// HL7 v2 deliveries of one MLLP peer, in event order over one connection.
    async fn deliver_hl7(&self, peer: &Hl7Destination, rows: Vec<Delivery>) -> Result<(), Error> {
        let mut conn = None;
        let mut iter = rows.iter();
        while let Some(d) = iter.next() {
            let outcome = match self.hl7_message(peer, d).await? {
                Err(reason) => Outcome::Skipped(reason),
                Ok(msg) => {
                    let sent = hl7out::send(
                        &mut conn,
                        &peer.addr,
                        &msg,
                        d.event_id,
                        self.cfg.request_timeout,
                    )
                    .await;
                    self.outcome(d.attempts, sent)
                }
            };
            self.finish_in_order(d, outcome, &mut iter).await?;
        }
        Ok(())
    }

    /// The message for one change, or why none is sent.
    async fn hl7_message(
        &self,
        peer: &Hl7Destination,
        d: &Delivery,
    ) -> Result<Result<Vec<u8>, String>, Error> {
        if d.operation == "delete" {
            return Ok(Err("deletions are not sent as HL7 v2".into()));
        }
        let Some(body) = self.load_version(d).await? else {
            return Ok(Err("version not found".into()));
        };
        let resource: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::Internal(format!("stored JSON unreadable: {e}")))?;
        let patient = match hl7out::subject(&resource) {
            Some(id) => {
                let s = self.services.clone();
                blocking(move || {
                    let row = s
                        .store
                        .read(|c| resources::read_current(c, "Patient", &id))?;
                    match row {
                        Some(row) => Ok(row.json()?),
                        None => Ok(None),
                    }
                })
                .await?
                .and_then(|b| serde_json::from_slice(&b).ok())
            }
            None => None,
        };
        Ok(hl7out::build(peer, &resource, patient.as_ref(), d))
    }

    async fn load_version(&self, d: &Delivery) -> Result<Option<Vec<u8>>, Error> {
        let s = self.services.clone();
        let (t, id, v) = (d.res_type.clone(), d.res_id.clone(), d.version);
        blocking(move || {
            let row = s.store.read(|c| resources::read_version(c, &t, &id, v))?;
            match row {
                Some(row) => Ok(row.json()?),
                None => Ok(None),
            }
        })
        .await
    }

    async fn deliver_mirror(&self, rows: Vec<Delivery>) -> Result<(), Error> {
        let mut iter = rows.iter();
        while let Some(d) = iter.next() {
            let body = if d.operation == "delete" {
                None
            } else {
                self.load_version(d).await?
            };
            let s = self.services.clone();
            let (t, id) = (d.res_type.clone(), d.res_id.clone());
            let known_etag =
                blocking(move || Ok(s.store.read(|c| outbox::mirror_etag(c, &t, &id))?)).await?;
            let result = mirror::send(
                &self.client,
                &self.cfg,
                MirrorChange {
                    res_type: &d.res_type,
                    res_id: &d.res_id,
                    event_id: d.event_id,
                    body,
                    known_etag,
                },
            )
            .await;
            let outcome = match result {
                MirrorResult::Written { etag } => {
                    if let Some(etag) = etag {
                        let s = self.services.clone();
                        let (t, id) = (d.res_type.clone(), d.res_id.clone());
                        blocking(move || {
                            s.store.write(|c| -> Result<(), Error> {
                                Ok(outbox::set_mirror_etag(c, &t, &id, &etag)?)
                            })
                        })
                        .await?;
                    }
                    Outcome::Delivered
                }
                MirrorResult::RemoteNewer => {
                    Outcome::Skipped("remote copy changed since our last write; skipped".into())
                }
                MirrorResult::Failed(sent) => self.outcome(d.attempts, sent),
            };
            self.finish_in_order(d, outcome, &mut iter).await?;
        }
        Ok(())
    }

    /// Heartbeat notifications to active Subscriptions whose channel was silent for their period.
    async fn heartbeats(&self) -> Result<usize, Error> {
        let s = self.services.clone();
        let subs =
            blocking(move || Ok(s.store.read(|c| outbox::heartbeats_due(c, now_micros()))?))
                .await?;
        let n = subs.len();
        for sub in subs {
            let body = sub
                .payload
                .as_ref()
                .map(|_| notify::bundle(&self.base, &sub, "heartbeat", &[]));
            let (ok, error) = match self.post(&sub, body, None).await {
                Sent::Ok { .. } => (true, None),
                Sent::Transient(e) => (false, Some(e)),
                Sent::Permanent { message, .. } => (false, Some(message)),
            };
            self.record_channel(&sub, ok, error).await?;
        }
        Ok(n)
    }

    /// Retention: drops delivered events older than `outbox_retention`, at most every
    /// min(retention / 2, 60 s).
    async fn prune(&self) -> Result<(), Error> {
        let retention = self.cfg.outbox_retention;
        let every = (retention / 2).min(Duration::from_secs(60));
        {
            let mut last = self
                .last_prune
                .lock()
                .map_err(|_| Error::Internal("prune lock poisoned".into()))?;
            if last.is_some_and(|t| t.elapsed() < every) {
                return Ok(());
            }
            *last = Some(std::time::Instant::now());
        }
        let s = self.services.clone();
        let cutoff = now_micros() - micros(retention);
        let (d, e) = blocking(move || {
            s.store
                .write(|c| -> Result<_, Error> { Ok(outbox::prune(c, cutoff)?) })
        })
        .await?;
        if d + e > 0 {
            tracing::debug!(deliveries = d, events = e, "pruned delivered sync events");
        }
        Ok(())
    }

    /// Subscriptions in `requested`: a handshake notification; success → active.
    async fn handshakes(&self) -> Result<usize, Error> {
        let s = self.services.clone();
        let subs =
            blocking(move || Ok(s.store.read(|c| outbox::subscriptions(c, &["requested"]))?))
                .await?;
        let now = now_micros();
        let mut n = 0;
        for sub in subs.into_iter().filter(|s| s.next_attempt_at <= now) {
            n += 1;
            let body = sub
                .payload
                .as_ref()
                .map(|_| notify::bundle(&self.base, &sub, "handshake", &[]));
            let (ok, error) = match self.post(&sub, body, None).await {
                Sent::Ok { .. } => (true, None),
                Sent::Transient(e) => (false, Some(e)),
                Sent::Permanent { message, .. } => (false, Some(message)),
            };
            self.record_channel(&sub, ok, error).await?;
        }
        Ok(n)
    }
}

/// The Export AuditEvent of a delivery attempt (none when nothing was sent: released or skipped).
fn export_record(d: &Delivery, outcome: &Outcome) -> Option<crate::fhir::audit_event::Record> {
    use crate::fhir::audit_event::{Action, Actor, Kind, Outcome as AuditOutcome, Record};
    let (result, desc) = match outcome {
        Outcome::Delivered => (AuditOutcome::Success, None),
        Outcome::Retry { error, .. } => (AuditOutcome::Minor, Some(error.clone())),
        Outcome::Dead(error) => (AuditOutcome::Serious, Some(error.clone())),
        Outcome::Skipped(_) | Outcome::Release { .. } => return None,
    };
    let mut r = Record::new(
        Kind::Export,
        Action::R,
        now_micros(),
        Actor::system(format!("sync:{}", d.dest_id)),
    );
    r.entities.push(format!(
        "{}/{}/_history/{}",
        d.res_type, d.res_id, d.version
    ));
    if d.res_type == "Patient" {
        r.add_patient(&d.res_id);
    }
    r.outcome = result;
    r.outcome_desc = desc;
    Some(r)
}
