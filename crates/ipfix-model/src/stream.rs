//! Message boundaries in byte streams (TCP sessions, RFC 5655 files): IPFIX has no framing
//! besides the header's length field, so the length is validated (version, 16..=max) before
//! anything is buffered on its word.

use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::decode::read_header;
use crate::error::DecodeError;
use crate::message::{Message, HEADER_LEN};
use crate::session::{Limits, Session};

/// Bytes needed to know a message's length (version + length fields).
pub const LENGTH_PREFIX: usize = 4;

/// Declared length of the message at the start of `buf`, once its first 4 bytes are there.
///
/// `Ok(None)`: fewer than 4 bytes buffered. `Ok(Some(n))`: the message is `n` bytes (it may
/// not be complete in `buf` yet: wait until `buf.len() >= n`). `Err`: not an IPFIX message,
/// or longer than `max_len`; a stream in this state cannot be resynchronised and should be
/// closed. `offset` is `buf[0]`'s stream position, for the error.
pub fn frame_len(buf: &[u8], max_len: usize, offset: u64) -> Result<Option<usize>, DecodeError> {
    let Some(prefix) = buf.get(..LENGTH_PREFIX) else {
        return Ok(None);
    };
    let mut h = [0u8; HEADER_LEN];
    if let Some(dst) = h.get_mut(..LENGTH_PREFIX) {
        dst.copy_from_slice(prefix);
    }
    let header = read_header(&h, offset, max_len)?;
    Ok(Some(usize::from(header.length)))
}

/// Like [`frame_len`] but `Some` only when the whole message is in `buf`.
pub fn complete_frame_len(
    buf: &[u8],
    max_len: usize,
    offset: u64,
) -> Result<Option<usize>, DecodeError> {
    Ok(frame_len(buf, max_len, offset)?.filter(|&n| buf.len() >= n))
}

/// Reads concatenated messages from a file or any byte stream (RFC 5655 §3), decoding them
/// with its own [`Session`] (a file is one transport session). Errors carry the byte offset
/// in the stream.
#[derive(Debug)]
pub struct FileReader<R> {
    inner: R,
    session: Session,
    buf: Vec<u8>,
    offset: u64,
}

impl<R: Read> FileReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_session(inner, Session::new())
    }

    pub fn with_limits(inner: R, limits: Limits) -> Self {
        Self::with_session(inner, Session::with_limits(limits))
    }

    pub fn with_session(inner: R, session: Session) -> Self {
        Self {
            inner,
            session,
            buf: Vec::with_capacity(65536),
            offset: 0,
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Stream offset of the next message.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The raw bytes of the next message and its offset, without decoding; `None` at a clean
    /// end of stream (between messages).
    pub fn next_raw(&mut self) -> Result<Option<(u64, &[u8])>, DecodeError> {
        let at = self.offset;
        self.buf.clear();
        self.buf.resize(LENGTH_PREFIX, 0);
        let got = read_full(&mut self.inner, &mut self.buf, at)?;
        if got == 0 {
            return Ok(None);
        }
        if got < LENGTH_PREFIX {
            return Err(DecodeError::Truncated {
                msg_offset: at,
                offset: at + got as u64,
                what: "message header at end of stream",
                needed: LENGTH_PREFIX - got,
                available: 0,
            });
        }
        let len = frame_len(&self.buf, self.session.limits.max_message_len, at)?.unwrap_or(0);
        // `len` is at most max_message_len, checked by frame_len, so this is bounded.
        self.buf.resize(len, 0);
        let rest = self.buf.get_mut(LENGTH_PREFIX..).unwrap_or_default();
        let want = rest.len();
        let got = read_full(&mut self.inner, rest, at + LENGTH_PREFIX as u64)?;
        if got < want {
            return Err(DecodeError::Truncated {
                msg_offset: at,
                offset: at + (LENGTH_PREFIX + got) as u64,
                what: "message at end of stream",
                needed: want - got,
                available: 0,
            });
        }
        self.offset += len as u64;
        Ok(Some((at, &self.buf)))
    }

    /// Reads and decodes the next message; `None` at a clean end of stream.
    ///
    /// After an error in a message's content the reader is already past that message, so a
    /// caller may log and go on; after a framing error (bad version or length, truncation,
    /// I/O) the stream cannot be resynchronised and should be abandoned.
    pub fn next_message(&mut self) -> Result<Option<Message<'_>>, DecodeError> {
        let at = self.offset;
        // Split borrows: decode needs the session mutably and the buffer shared.
        if self.next_raw()?.is_none() {
            return Ok(None);
        }
        self.session.decode(&self.buf, at).map(Some)
    }
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8], offset: u64) -> Result<usize, DecodeError> {
    let mut done = 0;
    while let Some(dst) = buf.get_mut(done..).filter(|d| !d.is_empty()) {
        match r.read(dst) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(DecodeError::Io {
                    offset: offset + done as u64,
                    source: Arc::new(e),
                })
            }
        }
    }
    Ok(done)
}

/// Writes encoded messages one after the other (RFC 5655 file format).
#[derive(Debug)]
pub struct FileWriter<W> {
    inner: W,
    written: u64,
}

impl<W: Write> FileWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, written: 0 }
    }

    /// Appends one encoded message.
    pub fn write_message(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Encodes and appends a message.
    pub fn write(&mut self, msg: &Message<'_>) -> Result<(), crate::error::WriteError> {
        let mut out = Vec::with_capacity(usize::from(msg.header.length));
        msg.encode(&mut out)?;
        self.write_message(&out)?;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_needs_four_bytes_and_checks_header() {
        assert_eq!(frame_len(&[0x00, 0x0a, 0x00], 65535, 0).unwrap(), None);
        assert_eq!(
            frame_len(&[0x00, 0x0a, 0x00, 0x20], 65535, 0).unwrap(),
            Some(32)
        );
        assert_eq!(
            complete_frame_len(&[0x00, 0x0a, 0x00, 0x20], 65535, 0).unwrap(),
            None
        );
        assert_eq!(complete_frame_len(&[0u8; 0], 65535, 0).unwrap(), None);
        let mut full = vec![0u8; 32];
        full[..4].copy_from_slice(&[0x00, 0x0a, 0x00, 0x20]);
        assert_eq!(complete_frame_len(&full, 65535, 0).unwrap(), Some(32));
        assert!(matches!(
            frame_len(&[0x00, 0x09, 0x00, 0x20], 65535, 40),
            Err(DecodeError::BadVersion {
                msg_offset: 40,
                version: 9
            })
        ));
        assert!(matches!(
            frame_len(&[0x00, 0x0a, 0x00, 0x0f], 65535, 0),
            Err(DecodeError::BadMessageLength { length: 15, .. })
        ));
        assert!(matches!(
            frame_len(&[0x00, 0x0a, 0x05, 0xdd], 1500, 0),
            Err(DecodeError::BadMessageLength {
                length: 1501,
                max: 1500,
                ..
            })
        ));
    }

    #[test]
    fn file_reader_reports_truncation_offset_and_clean_eof() {
        // Two empty (header-only) messages, the second cut short.
        let mut f = vec![0x00, 0x0a, 0x00, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&f.clone()[..10]);
        let mut rd = FileReader::new(&f[..]);
        let m = rd.next_message().unwrap().unwrap();
        assert_eq!(m.offset, 0);
        assert!(m.sets.is_empty());
        let e = rd.next_message().unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::Truncated {
                    msg_offset: 16,
                    offset: 26,
                    ..
                }
            ),
            "{e:?}"
        );
        let mut rd = FileReader::new(&f[..16]);
        assert!(rd.next_message().unwrap().is_some());
        assert!(rd.next_message().unwrap().is_none());
        let mut rd = FileReader::new(&f[..18]);
        rd.next_message().unwrap();
        assert!(matches!(
            rd.next_message(),
            Err(DecodeError::Truncated { offset: 18, .. })
        ));
    }
}
