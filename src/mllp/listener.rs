//! The MLLP accept loop: limits concurrent connections, optional TLS, one task per connection.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::config::MllpConfig;
use crate::interactions::hl7_ingest::Hl7Ingest;

use super::connection::{self, End, Limits};

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    // The io error is in the message, not a `source`: an error chain would print it twice.
    #[error(
        "cannot listen for MLLP on {addr}: {error} (choose another address with --mllp ADDR, or --no-mllp)"
    )]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
}

/// A bound, running listener. Dropping the handle does not stop it; call `stop`.
pub struct MllpHandle {
    pub addr: SocketAddr,
    pub tls: bool,
    shutdown: watch::Sender<bool>,
}

impl MllpHandle {
    /// Stops accepting; open connections close between messages.
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Binds `config.addr` and spawns the accept loop on the current tokio runtime.
pub fn start(
    addr: SocketAddr,
    config: &MllpConfig,
    ingest: Hl7Ingest,
) -> Result<MllpHandle, ListenError> {
    let tls = match &config.tls {
        Some((cert, key)) => Some(super::tls::acceptor(
            cert,
            key,
            config.tls_client_ca.as_deref(),
        )?),
        None => None,
    };
    let bind_err = |error| ListenError::Bind { addr, error };
    let std_listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    std_listener.set_nonblocking(true).map_err(bind_err)?;
    let local = std_listener.local_addr().map_err(bind_err)?;
    let listener = TcpListener::from_std(std_listener).map_err(bind_err)?;
    let (tx, rx) = watch::channel(false);
    let limits = Limits {
        max_frame_bytes: config.max_frame_bytes,
        idle_timeout: config.idle_timeout,
    };
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let handle = MllpHandle {
        addr: local,
        tls: tls.is_some(),
        shutdown: tx,
    };
    tokio::spawn(accept_loop(listener, tls, ingest, limits, slots, rx));
    Ok(handle)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ingest: Hl7Ingest,
    limits: Limits,
    slots: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (socket, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "MLLP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "MLLP: connection limit reached; closing the new connection");
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let ingest = ingest.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tracing::debug!(%peer, "MLLP connection opened");
            let end = match tls {
                None => connection::run(socket, peer, &ingest, limits, shutdown).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.idle_timeout, acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => {
                            connection::run(stream, peer, &ingest, limits, shutdown).await
                        }
                        Ok(Err(e)) => End::Io(format!("TLS handshake: {e}")),
                        Err(_) => End::Idle,
                    }
                }
            };
            match end {
                End::ClosedMidFrame { bytes } => tracing::warn!(
                    %peer, bytes, "MLLP connection closed mid-frame; the partial message was discarded (no ACK)"
                ),
                End::PeerClosed | End::Shutdown => {
                    tracing::debug!(%peer, ?end, "MLLP connection closed")
                }
                other => tracing::info!(%peer, end = ?other, "MLLP connection closed"),
            }
        });
    }
}
