//! A minimal MLLP sender (used by `hms hl7 send` and the tests): one connection, one message at a
//! time, each answered by one ACK frame.

use std::time::Duration;

use hms_hl7v2::mllp::{DecoderEvent, MllpDecoder, encode_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    // The io error is in the message, not a `source`: an error chain would print it twice.
    #[error("cannot connect to {addr}: {error}")]
    Connect { addr: String, error: std::io::Error },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("no ACK within {0:?}")]
    Timeout(Duration),
    #[error("the server closed the connection without an ACK")]
    Closed,
}

pub struct MllpClient {
    stream: TcpStream,
    decoder: MllpDecoder,
    timeout: Duration,
    buf: Vec<u8>,
}

impl MllpClient {
    pub async fn connect(addr: &str, timeout: Duration) -> Result<MllpClient, ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|error| ClientError::Connect {
                addr: addr.to_string(),
                error,
            })?;
        let _ = stream.set_nodelay(true);
        Ok(MllpClient {
            stream,
            decoder: MllpDecoder::new(16 * 1024 * 1024),
            timeout,
            buf: vec![0u8; 16 * 1024],
        })
    }

    /// Frames and sends `payload`, then waits for the next ACK frame and returns its payload.
    /// When the server stops reading (e.g. the frame is over its size limit) the ACK it sent before
    /// closing is still read and returned.
    pub async fn send(&mut self, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        if let Err(e) = self.send_only(payload).await {
            return match self.next_frame().await {
                Ok(ack) => Ok(ack),
                Err(_) => Err(e),
            };
        }
        self.next_frame().await
    }

    /// Frames and sends `payload` without waiting for an answer (MSH-15 = NE).
    pub async fn send_only(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(&encode_frame(payload)).await?;
        self.stream.flush().await?;
        Ok(())
    }

    async fn next_frame(&mut self) -> Result<Vec<u8>, ClientError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut self.buf))
                .await
                .map_err(|_| ClientError::Timeout(self.timeout))??;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            let chunk = self.buf.get(..n).unwrap_or_default();
            for ev in self.decoder.push(chunk) {
                if let DecoderEvent::Frame(f) = ev {
                    return Ok(f);
                }
            }
        }
    }
}

/// MSA-1 of an ACK payload ("AA", "AE", ...), if it has an MSA segment.
pub fn msa_code(ack: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(ack);
    let msh = text.strip_prefix("MSH")?;
    let sep = msh.chars().next()?;
    text.split(['\r', '\n'])
        .find(|s| s.starts_with("MSA"))
        .and_then(|s| s.split(sep).nth(1))
        .map(str::to_string)
}
