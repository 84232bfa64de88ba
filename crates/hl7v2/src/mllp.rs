//! Sans-IO MLLP codec: `<VT> payload <FS><CR>`.
//!
//! The listener feeds whatever each `read()` returned into [`MllpDecoder::push`]
//! and gets back the events completed by those bytes. Any chunking works: a frame
//! spread over many reads, the FS/CR trailer split across reads, several frames in
//! one read. Memory is bounded: the decoder never holds more than `max_frame`
//! payload bytes; anything longer is reported as [`DecoderEvent::TooLarge`] and
//! discarded up to the next start byte.

/// Start block (VT).
pub const START: u8 = 0x0B;
/// End block (FS).
pub const END: u8 = 0x1C;
/// Trailer after FS.
pub const CR: u8 = 0x0D;

/// What the byte stream produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecoderEvent {
    /// A complete payload (without VT/FS/CR).
    Frame(Vec<u8>),
    /// Bytes dropped: junk or LF outside a frame, or a partial frame abandoned
    /// because a new VT started before its FS (the VT restarts the frame).
    Skipped { bytes: usize },
    /// A frame exceeded `max_frame`; it is discarded up to the next VT and must not
    /// be ACKed (the listener may log or close).
    TooLarge { limit: usize },
}

/// Reported by [`MllpDecoder::finish`] when the connection closes mid-frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    /// Payload bytes received for the unfinished frame (discarded, never ACKed).
    pub bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames; counts junk bytes.
    Idle { junk: usize },
    /// Inside a frame.
    InFrame,
    /// FS seen, waiting for CR.
    AfterFs,
    /// Oversized frame being dropped until the next VT.
    Discarding,
}

/// Incremental MLLP decoder.
#[derive(Debug, Clone)]
pub struct MllpDecoder {
    max_frame: usize,
    buf: Vec<u8>,
    state: State,
}

impl MllpDecoder {
    /// A decoder accepting payloads of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        MllpDecoder {
            max_frame,
            buf: Vec::new(),
            state: State::Idle { junk: 0 },
        }
    }

    /// The configured limit.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Bytes currently buffered (≤ `max_frame`).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn start_frame(&mut self, out: &mut Vec<DecoderEvent>) {
        match self.state {
            State::Idle { junk } if junk > 0 => out.push(DecoderEvent::Skipped { bytes: junk }),
            // A VT inside a frame abandons the partial frame (its VT included).
            State::InFrame | State::AfterFs => out.push(DecoderEvent::Skipped {
                bytes: self.buf.len() + 1 + usize::from(self.state == State::AfterFs),
            }),
            _ => {}
        }
        self.buf.clear();
        self.state = State::InFrame;
    }

    /// Feeds bytes; returns the events they complete, in stream order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<DecoderEvent> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            match self.state {
                State::Idle { junk } => {
                    if b == START {
                        self.start_frame(&mut out);
                    } else {
                        self.state = State::Idle { junk: junk + 1 };
                    }
                    rest = tail;
                }
                State::Discarding => {
                    // Jump to the next VT in one step.
                    match rest.iter().position(|x| *x == START) {
                        Some(i) => {
                            self.state = State::Idle { junk: 0 };
                            rest = rest.get(i..).unwrap_or(&[]);
                        }
                        None => rest = &[],
                    }
                }
                State::AfterFs => {
                    if b == CR {
                        out.push(DecoderEvent::Frame(std::mem::take(&mut self.buf)));
                        self.state = State::Idle { junk: 0 };
                        rest = tail;
                    } else if b == START {
                        // Leniency: FS directly followed by a new VT (sender omitted
                        // the CR) still ends the frame.
                        out.push(DecoderEvent::Frame(std::mem::take(&mut self.buf)));
                        self.state = State::Idle { junk: 0 };
                        self.start_frame(&mut out);
                        rest = tail;
                    } else {
                        // A FS followed by anything else is taken as data so a stray
                        // FS cannot forge a frame end.
                        self.state = State::InFrame;
                        self.append(&[END], &mut out);
                    }
                }
                State::InFrame => {
                    let stop = rest.iter().position(|x| *x == START || *x == END);
                    let (data, after) = match stop {
                        Some(i) => rest.split_at(i),
                        None => (rest, &[][..]),
                    };
                    self.append(data, &mut out);
                    rest = after;
                    if self.state != State::InFrame {
                        continue;
                    }
                    if let Some((&m, tail)) = rest.split_first() {
                        if m == START {
                            self.start_frame(&mut out);
                        } else {
                            self.state = State::AfterFs;
                        }
                        rest = tail;
                    }
                }
            }
        }
        out
    }

    fn append(&mut self, data: &[u8], out: &mut Vec<DecoderEvent>) {
        if self.buf.len() + data.len() > self.max_frame {
            self.buf = Vec::new();
            self.state = State::Discarding;
            out.push(DecoderEvent::TooLarge {
                limit: self.max_frame,
            });
        } else {
            self.buf.extend_from_slice(data);
        }
    }

    /// Call at connection close: reports a frame left unfinished (discarded).
    /// Junk after the last frame is not reported.
    pub fn finish(self) -> Option<Incomplete> {
        match self.state {
            State::InFrame | State::AfterFs => Some(Incomplete {
                bytes: self.buf.len(),
            }),
            State::Idle { .. } | State::Discarding => None,
        }
    }
}

/// Wraps a payload in an MLLP frame.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 3);
    v.push(START);
    v.extend_from_slice(payload);
    v.push(END);
    v.push(CR);
    v
}
