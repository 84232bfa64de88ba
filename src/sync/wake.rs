//! Wake-ups across nodes through Redis pub/sub. Without Redis (or while it is down) workers poll;
//! a Redis failure is logged once until it recovers.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Notify;

const CHANNEL: &str = "hms:sync:wake";

/// Publishes "something was committed" to every node; cheap and failure-tolerant.
pub struct Publisher {
    client: redis::Client,
    conn: RefCell<Option<redis::aio::MultiplexedConnection>>,
    retry_after: Cell<Option<Instant>>,
    warned: Rc<Cell<bool>>,
}

/// Starts the subscriber task (it wakes `local` on every message) and returns the publisher.
/// None when the URL is invalid (logged).
pub fn start(url: &str, local: Arc<Notify>) -> Option<Publisher> {
    let client = match redis::Client::open(url) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "invalid redis URL; sync workers will poll");
            return None;
        }
    };
    let warned = Rc::new(Cell::new(false));
    actix_web::rt::spawn(subscribe(client.clone(), local, warned.clone()));
    Some(Publisher {
        client,
        conn: RefCell::new(None),
        retry_after: Cell::new(None),
        warned,
    })
}

fn warn_once(warned: &Cell<bool>, what: &str, e: &redis::RedisError) {
    if !warned.replace(true) {
        tracing::warn!(error = %e, "redis {what} failed; sync workers fall back to polling until it is back");
    }
}

async fn subscribe(client: redis::Client, local: Arc<Notify>, warned: Rc<Cell<bool>>) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut ps) => match ps.subscribe(CHANNEL).await {
                Ok(()) => {
                    if warned.replace(false) {
                        tracing::info!("redis is back; sync wake-ups restored");
                    }
                    let mut messages = ps.on_message();
                    while messages.next().await.is_some() {
                        local.notify_one();
                    }
                }
                Err(e) => warn_once(&warned, "subscribe", &e),
            },
            Err(e) => warn_once(&warned, "connection", &e),
        }
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    }
}

impl Publisher {
    pub async fn publish(&self) {
        if self.retry_after.get().is_some_and(|t| Instant::now() < t) {
            return;
        }
        let existing = self.conn.borrow().clone();
        let mut conn = match existing {
            Some(c) => c,
            None => {
                let fut = self.client.get_multiplexed_async_connection();
                match actix_web::rt::time::timeout(Duration::from_secs(1), fut).await {
                    Ok(Ok(c)) => {
                        *self.conn.borrow_mut() = Some(c.clone());
                        c
                    }
                    Ok(Err(e)) => {
                        warn_once(&self.warned, "connection", &e);
                        self.retry_after
                            .set(Some(Instant::now() + Duration::from_secs(2)));
                        return;
                    }
                    Err(_) => {
                        self.retry_after
                            .set(Some(Instant::now() + Duration::from_secs(2)));
                        return;
                    }
                }
            }
        };
        let r: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(1)
            .query_async(&mut conn)
            .await;
        if let Err(e) = r {
            warn_once(&self.warned, "publish", &e);
            *self.conn.borrow_mut() = None;
            self.retry_after
                .set(Some(Instant::now() + Duration::from_secs(2)));
        }
    }
}
