//! Fixed byte buffers owned by a connection: [`InBuf`] collects bytes read
//! (plaintext after TLS) until a frame or response is complete, [`OutBuf`]
//! keeps the unsent tail of what was written to a socket.
//!
//! # Invariants
//! - Capacity is fixed at construction; nothing here reallocates. Too little
//!   room is reported ([`InBuf::space`] is empty, [`OutBuf::push`] refuses),
//!   never grown silently.
//! - [`InBuf`] moves its unread bytes to the front only when the free room at
//!   the end would be smaller than a caller-given minimum: that copy happens
//!   when a frame straddles reads, not per frame.

use std::io::{self, Write};

/// Bytes received and not yet consumed: `buf[start..end]`.
pub struct InBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl InBuf {
    /// A buffer of `capacity` bytes, allocated now.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { buf: vec![0; capacity].into_boxed_slice(), start: 0, end: 0 }
    }

    /// Total capacity.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The unread bytes, mutable (frames are handed out as mutable slices).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    /// Number of unread bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// No unread bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` unread bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free room at the end to read into. When less than `min` bytes are
    /// free there, the unread bytes are first moved to the front.
    pub fn space(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() - self.end < min && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were written into [`InBuf::space`].
    pub fn filled(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.buf.len());
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Forgets everything (a new connection).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}

/// The outgoing buffer was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("outgoing buffer full ({capacity} bytes)")]
pub struct OutBufFull {
    /// Capacity of the buffer.
    pub capacity: usize,
}

/// Bytes written but not yet accepted by the socket: `buf[start..end]`.
pub struct OutBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl OutBuf {
    /// A buffer of `capacity` bytes, allocated now.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { buf: vec![0; capacity].into_boxed_slice(), start: 0, end: 0 }
    }

    /// Bytes waiting for the socket.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Free room at the end (compacting first if that makes more room).
    pub fn space(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were written into [`OutBuf::space`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Appends `bytes` whole, or nothing.
    ///
    /// # Errors
    /// [`OutBufFull`] when they do not fit.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), OutBufFull> {
        let capacity = self.buf.len();
        let space = self.space();
        if space.len() < bytes.len() {
            return Err(OutBufFull { capacity });
        }
        space[..bytes.len()].copy_from_slice(bytes);
        self.filled(bytes.len());
        Ok(())
    }

    /// Writes as much as the socket takes now. Returns `true` when nothing
    /// is left (the caller can stop watching for WRITABLE).
    ///
    /// # Errors
    /// Socket errors other than `WouldBlock` / `Interrupted`.
    pub fn flush(&mut self, io: &mut impl Write) -> io::Result<bool> {
        while self.start < self.end {
            match io.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.start += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.start = 0;
        self.end = 0;
        Ok(true)
    }

    /// Forgets everything (a new connection).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbuf_compacts_only_when_room_is_short() {
        let mut b = InBuf::new(8);
        b.space(1)[..6].copy_from_slice(b"abcdef");
        b.filled(6);
        b.consume(4);
        assert_eq!(b.data(), b"ef");
        assert_eq!(b.space(2).len(), 2, "enough room at the end: no move");
        assert_eq!(b.space(3).len(), 6, "short of room: unread bytes moved to the front");
        assert_eq!(b.data(), b"ef");
        b.consume(2);
        assert!(b.is_empty());
        assert_eq!(b.space(8).len(), 8);
    }

    #[test]
    fn outbuf_refuses_what_does_not_fit_and_keeps_the_tail() {
        struct Slow(Vec<u8>, usize);
        impl Write for Slow {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.1 == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = b.len().min(self.1);
                self.0.extend_from_slice(&b[..n]);
                self.1 -= n;
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut o = OutBuf::new(6);
        o.push(b"hello").unwrap();
        assert_eq!(o.push(b"xx"), Err(OutBufFull { capacity: 6 }));
        let mut sock = Slow(Vec::new(), 3);
        assert!(!o.flush(&mut sock).unwrap());
        assert_eq!(o.pending(), 2);
        sock.1 = 10;
        assert!(o.flush(&mut sock).unwrap());
        assert_eq!(sock.0, b"hello");
    }
}
