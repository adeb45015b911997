//! The resumable frame reader of the wire protocol.
//!
//! [`MessageReader`] is a small state machine over the parts of a frame (length, id, fixed
//! fields, variable data). Each part is read into the reader's own buffer, so when the
//! socket runs dry in the middle of a frame nothing is lost: the peer thread's socket is
//! non-blocking and answers `WouldBlock` (a blocking one with a read timeout, as in tests,
//! `WouldBlock` or `TimedOut`); the call returns `Ok(None)` and the next one carries on
//! from the same byte. Lengths are checked before anything is allocated; `piece` data goes
//! straight into its final buffer, a recycled one from the connection's [`BlockPool`]
//! when there is one, which needs no zeroing (see [`BlockPool::take`]).

use super::{Message, WireError, id};
use crate::block_pool::BlockPool;
use crate::geometry::BlockRef;
use byteorder::{BigEndian, ByteOrder};
use std::io::{self, ErrorKind, Read};

/// Where a [`MessageReader`] is inside the current frame.
#[derive(Debug)]
enum Stage {
    /// Reading the 4-byte length prefix; `filled` bytes of it are in.
    Length { buf: [u8; 4], filled: usize },
    /// Reading the id byte of a frame of `len` bytes (`len >= 1`).
    Id { len: u32 },
    /// Reading the small fixed part after the id: the whole body of `have`, `request`,
    /// `cancel`, `port` and BEP 6's messages, or the 8-byte piece/offset header of `piece`.
    Head {
        id: u8,
        len: u32,
        buf: [u8; 12],
        need: usize,
        filled: usize,
    },
    /// Reading the variable data of a `bitfield`, `piece` or `extended` message straight
    /// into its final vector, as long as the data; `filled` bytes of it have arrived.
    Data {
        id: u8,
        piece: u32,
        offset: u32,
        data: Vec<u8>,
        filled: usize,
    },
    /// Discarding the payload of a message we do not speak; `left` bytes to go.
    Skip { id: u8, len: u32, left: u32 },
}

const START: Stage = Stage::Length {
    buf: [0; 4],
    filled: 0,
};

/// Reads frames one at a time, pausing (not failing) when the reader runs dry mid-frame.
///
/// After an `Err` the stream is out of step and the connection should be dropped.
#[derive(Debug)]
pub struct MessageReader {
    max_len: u32,
    /// Where `piece` data buffers come from, once the connection has one.
    pool: Option<BlockPool>,
    stage: Stage,
    bytes_read: u64,
    block_bytes_read: u64,
}

/// What one stage of [`MessageReader`] produced.
enum Step {
    /// The frame goes on in this stage.
    Next(Stage),
    /// The frame is complete.
    Done(Message),
}

/// A reader that adds the bytes passing through to `count`.
struct Counting<'a, R> {
    inner: &'a mut R,
    count: &'a mut u64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.count += n as u64;
        Ok(n)
    }
}

/// Outcome of filling a buffer from a reader.
enum Fill {
    Full,
    /// The reader has nothing more for now (`WouldBlock` or `TimedOut`).
    Paused,
}

/// Reads into `buf[*filled..]` until it is full or the reader has nothing more for now.
/// `Interrupted` is retried; end of stream is [`WireError::Closed`].
fn fill(r: &mut impl Read, buf: &mut [u8], filled: &mut usize) -> Result<Fill, WireError> {
    while *filled < buf.len() {
        match r.read(&mut buf[*filled..]) {
            Ok(0) => return Err(WireError::Closed),
            Ok(n) => *filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(Fill::Paused);
            }
            Err(e) => return Err(WireError::Io(e)),
        }
    }
    Ok(Fill::Full)
}

/// Discards `*left` bytes in bounded chunks, counting down as they arrive.
fn skip(r: &mut impl Read, left: &mut u32) -> Result<Fill, WireError> {
    let mut scratch = [0u8; 4096];
    while *left > 0 {
        let chunk = (*left as usize).min(scratch.len());
        let mut filled = 0;
        let outcome = fill(r, &mut scratch[..chunk], &mut filled);
        *left -= filled as u32;
        if let Fill::Paused = outcome? {
            return Ok(Fill::Paused);
        }
    }
    Ok(Fill::Full)
}

impl MessageReader {
    /// A reader that refuses frames longer than `max_len` bytes (see [`DEFAULT_MAX_LEN`](super::DEFAULT_MAX_LEN)).
    pub fn new(max_len: u32) -> Self {
        MessageReader {
            max_len,
            pool: None,
            stage: START,
            bytes_read: 0,
            block_bytes_read: 0,
        }
    }

    /// Changes the frame limit for the frames that follow.
    pub fn set_max_len(&mut self, max_len: u32) {
        self.max_len = max_len;
    }

    /// From now on `piece` data goes into buffers taken from `pool`.
    pub fn set_pool(&mut self, pool: BlockPool) {
        self.pool = Some(pool);
    }

    /// Every byte consumed from the stream so far, headers included.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Bytes of `piece` data consumed so far, counting blocks still being received (for
    /// download rates that do not jump by 16 KiB at a time).
    pub fn block_bytes_read(&self) -> u64 {
        self.block_bytes_read
    }

    /// True when part of a frame has been read and the rest is awaited.
    pub fn in_frame(&self) -> bool {
        !matches!(self.stage, Stage::Length { filled: 0, .. })
    }

    /// Reads exactly one frame. `Ok(None)` means the reader has nothing more for now
    /// (`WouldBlock` or `TimedOut`); the partial frame is kept and the next call continues it.
    pub fn read_from(&mut self, r: &mut impl Read) -> Result<Option<Message>, WireError> {
        let result = self.step(r);
        if result.is_err() {
            self.stage = START;
        }
        result
    }

    /// The state machine behind [`read_from`](Self::read_from): loops until a message is
    /// complete, the reader has nothing more for now, or something is wrong.
    fn step(&mut self, r: &mut impl Read) -> Result<Option<Message>, WireError> {
        let mut r = Counting {
            inner: r,
            count: &mut self.bytes_read,
        };
        loop {
            let step = match &mut self.stage {
                Stage::Length { buf, filled } => {
                    if let Fill::Paused = fill(&mut r, buf, filled)? {
                        return Ok(None);
                    }
                    match u32::from_be_bytes(*buf) {
                        0 => Step::Done(Message::KeepAlive),
                        len if len > self.max_len => {
                            let max = self.max_len;
                            return Err(WireError::TooLong { len, max });
                        }
                        len => Step::Next(Stage::Id { len }),
                    }
                }
                Stage::Id { len } => {
                    let mut id = [0u8; 1];
                    if let Fill::Paused = fill(&mut r, &mut id, &mut 0)? {
                        return Ok(None);
                    }
                    Step::Next(after_id(id[0], *len)?)
                }
                Stage::Head {
                    id,
                    len,
                    buf,
                    need,
                    filled,
                } => {
                    if let Fill::Paused = fill(&mut r, &mut buf[..*need], filled)? {
                        return Ok(None);
                    }
                    head_done(*id, *len, buf, self.pool.as_ref())
                }
                Stage::Data {
                    id,
                    piece,
                    offset,
                    data,
                    filled,
                } => {
                    let before = *filled;
                    let outcome = fill(&mut r, data, filled);
                    if *id == id::PIECE {
                        self.block_bytes_read += (*filled - before) as u64;
                    }
                    if let Fill::Paused = outcome? {
                        return Ok(None);
                    }
                    let data = std::mem::take(data);
                    Step::Done(match *id {
                        id::BITFIELD => Message::Bitfield(data),
                        id::EXTENDED => {
                            // The extension's id is the first byte (`after_id` let no
                            // shorter frame through); the payload is the rest.
                            let mut payload = data;
                            let id = if payload.is_empty() {
                                0
                            } else {
                                payload.remove(0)
                            };
                            Message::Extended { id, payload }
                        }
                        _ => Message::Piece {
                            piece: *piece,
                            offset: *offset,
                            data,
                        },
                    })
                }
                Stage::Skip { id, len, left } => {
                    if let Fill::Paused = skip(&mut r, left)? {
                        return Ok(None);
                    }
                    Step::Done(Message::Unknown { id: *id, len: *len })
                }
            };
            match step {
                Step::Next(stage) => self.stage = stage,
                Step::Done(message) => {
                    self.stage = START;
                    return Ok(Some(message));
                }
            }
        }
    }
}

/// What follows the id byte of a frame of `len` bytes: checks the length for known ids.
fn after_id(id: u8, len: u32) -> Result<Stage, WireError> {
    let body = len - 1;
    let exact = |want: u32| {
        if len == want {
            Ok(())
        } else {
            Err(WireError::BadLength { id, len })
        }
    };
    let head = |need: usize| Stage::Head {
        id,
        len,
        buf: [0; 12],
        need,
        filled: 0,
    };
    Ok(match id {
        id::CHOKE..=id::NOT_INTERESTED | id::HAVE_ALL | id::HAVE_NONE => {
            exact(1)?;
            head(0)
        }
        id::HAVE | id::SUGGEST_PIECE | id::ALLOWED_FAST => exact(5).map(|_| head(4))?,
        id::REQUEST | id::CANCEL | id::REJECT_REQUEST => exact(13).map(|_| head(12))?,
        id::PORT => exact(3).map(|_| head(2))?,
        id::PIECE if len < 9 => return Err(WireError::BadLength { id, len }),
        id::PIECE => head(8),
        id::EXTENDED if len < 2 => return Err(WireError::BadLength { id, len }),
        // Small and rare: zeroed, then filled.
        id::BITFIELD | id::EXTENDED => Stage::Data {
            id,
            piece: 0,
            offset: 0,
            data: vec![0; body as usize],
            filled: 0,
        },
        _ => Stage::Skip {
            id,
            len: body,
            left: body,
        },
    })
}

/// Once the fixed part is in: the finished message, or for `piece` the stage that reads
/// the block data (into a buffer from `pool`, if there is one).
fn head_done(id: u8, len: u32, buf: &[u8; 12], pool: Option<&BlockPool>) -> Step {
    let word = |at: usize| BigEndian::read_u32(&buf[at..]);
    let block = || BlockRef {
        piece: word(0),
        offset: word(4),
        length: word(8),
    };
    Step::Done(match id {
        id::CHOKE => Message::Choke,
        id::UNCHOKE => Message::Unchoke,
        id::INTERESTED => Message::Interested,
        id::NOT_INTERESTED => Message::NotInterested,
        id::HAVE => Message::Have(word(0)),
        id::REQUEST => Message::Request(block()),
        id::CANCEL => Message::Cancel(block()),
        id::PORT => Message::Port(BigEndian::read_u16(buf)),
        id::SUGGEST_PIECE => Message::SuggestPiece(word(0)),
        id::HAVE_ALL => Message::HaveAll,
        id::HAVE_NONE => Message::HaveNone,
        id::REJECT_REQUEST => Message::RejectRequest(block()),
        id::ALLOWED_FAST => Message::AllowedFast(word(0)),
        // id::PIECE, the only other id that reaches `Head`.
        _ => {
            let want = len.saturating_sub(9) as usize;
            let data = match pool {
                Some(pool) => pool.take(want),
                None => vec![0; want],
            };
            return Step::Next(Stage::Data {
                id,
                piece: word(0),
                offset: word(4),
                data,
                filled: 0,
            });
        }
    })
}
