//! One MLLP connection: bytes → `MllpDecoder` → ingest → ACK, strictly one message at a time.
//!
//! Backpressure: the socket is read again only after the ACK of the previous frame is written, so
//! at most one read buffer plus one decoder frame (≤ max frame size) is held per connection.
//! A frame cut off by the peer closing is discarded and never ACKed; junk between frames is logged
//! and skipped; a frame over the size limit gets an AR naming the limit, then the connection closes. When the message store
//! is unavailable no ACK is sent and the connection is closed, so the sender retries later.

use std::net::SocketAddr;
use std::time::Duration;

use hms_hl7v2::mllp::{DecoderEvent, MllpDecoder, encode_frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::interactions::hl7_ingest::Hl7Ingest;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub idle_timeout: Duration,
}

/// Why a connection ended (logged by the caller).
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    PeerClosed,
    ClosedMidFrame { bytes: usize },
    Idle,
    TooLarge,
    StoreUnavailable,
    Io(String),
    Shutdown,
}

pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    ingest: &Hl7Ingest,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> End {
    let mut decoder = MllpDecoder::new(limits.max_frame_bytes);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(limits.idle_timeout, stream.read(&mut buf)) => match r {
                Err(_) => return End::Idle,
                Ok(Err(e)) => return End::Io(e.to_string()),
                Ok(Ok(0)) => {
                    return match decoder.finish() {
                        Some(inc) => End::ClosedMidFrame { bytes: inc.bytes },
                        None => End::PeerClosed,
                    };
                }
                Ok(Ok(n)) => n,
            },
            _ = shutdown.changed() => return End::Shutdown,
        };
        let Some(chunk) = buf.get(..n) else {
            return End::Io("read past the buffer".into());
        };
        for event in decoder.push(chunk) {
            match event {
                DecoderEvent::Frame(payload) => {
                    let reply = match ingest.receive(payload).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::error!(%peer, error = %e, "HL7 message not stored: closing the connection without ACK");
                            return End::StoreUnavailable;
                        }
                    };
                    if let Some(ack) = reply.ack {
                        let framed = encode_frame(&ack);
                        if let Err(e) = write(&mut stream, &framed).await {
                            return End::Io(e.to_string());
                        }
                    }
                }
                DecoderEvent::Skipped { bytes } => {
                    tracing::warn!(%peer, bytes, "MLLP: skipped bytes outside a frame");
                }
                DecoderEvent::TooLarge { limit } => {
                    tracing::warn!(%peer, limit, "MLLP: frame larger than the limit; closing the connection");
                    // Nothing of the frame is stored; tell the sender why before closing.
                    let ack = crate::interactions::hl7_ingest::too_large_ack(limit);
                    if write(&mut stream, &encode_frame(&ack)).await.is_ok() {
                        let _ = stream.shutdown().await;
                        drain(&mut stream, &mut buf).await;
                    }
                    return End::TooLarge;
                }
            }
        }
    }
}

/// Reads and discards what the peer still sends (for at most 2 s), so that closing does not
/// reset the connection before the peer has read the refusal.
async fn drain<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(buf)).await {
        if n == 0 {
            break;
        }
    }
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}
