//! A bounded byte writer over a caller-owned buffer.
//!
//! Every encoder under `venue/` writes request bytes through a
//! [`WireWriter`]: the caller owns the buffer (sized once at start-up), the
//! writer never allocates, and running out of room is an error
//! ([`BufferTooSmall`]), never a silent reallocation or truncation.
//!
//! Numbers are written from integers only: [`WireWriter::decimal`] renders a
//! fixed-point mantissa through [`DecimalText`], so no float is ever
//! formatted into an order.

use crate::fixed::DecimalText;

/// The caller's buffer is too small for the request being written.
///
/// # Errors
/// Returned by every [`WireWriter`] method that writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("output buffer too small: {capacity} bytes")]
pub struct BufferTooSmall {
    /// The buffer's capacity in bytes.
    pub capacity: usize,
}

/// Appends bytes to a caller-owned buffer, refusing to overflow it.
pub struct WireWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> WireWriter<'a> {
    /// A writer at the start of `buf`.
    #[must_use]
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when nothing has been written.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    #[inline]
    #[must_use]
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The bytes in `range` of what has been written.
    #[inline]
    #[must_use]
    pub fn slice(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.written()[range]
    }

    /// Gives the whole buffer back, with the number of bytes written.
    #[must_use]
    pub fn finish(self) -> (&'a mut [u8], usize) {
        (self.buf, self.len)
    }

    /// Appends raw bytes.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when they do not fit; nothing is written then.
    #[inline]
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                copy_short(dst, bytes);
                self.len = end;
                Ok(())
            }
            None => Err(BufferTooSmall { capacity: self.buf.len() }),
        }
    }

    /// Appends one byte.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    pub fn byte(&mut self, byte: u8) -> Result<(), BufferTooSmall> {
        self.bytes(&[byte])
    }

    /// Appends the decimal digits of `value`.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when they do not fit.
    #[inline]
    pub fn u64(&mut self, value: u64) -> Result<(), BufferTooSmall> {
        let digits = U64Text::new(value);
        self.bytes(digits.as_bytes())
    }

    /// Appends a fixed-point mantissa at `scale` decimals in canonical text
    /// (`6180020` at scale 2 is `61800.2`).
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    pub fn decimal(&mut self, mantissa: i64, scale: u8) -> Result<(), BufferTooSmall> {
        self.bytes(DecimalText::new(mantissa, scale).as_bytes())
    }
}

/// Copies `src` into `dst` (same length). Request text is made of many
/// short pieces; for up to 16 bytes two overlapping word copies replace a
/// call into `memcpy`, which measurably dominated the encoders' profile.
#[inline(always)]
pub fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    debug_assert_eq!(dst.len(), n);
    if n > 16 || dst.len() != n {
        dst.copy_from_slice(src);
    } else if n >= 8 {
        let head = u64::from_ne_bytes(src[..8].try_into().unwrap_or([0; 8]));
        let tail = u64::from_ne_bytes(src[n - 8..].try_into().unwrap_or([0; 8]));
        dst[n - 8..].copy_from_slice(&tail.to_ne_bytes());
        dst[..8].copy_from_slice(&head.to_ne_bytes());
    } else if n >= 4 {
        let head = u32::from_ne_bytes(src[..4].try_into().unwrap_or([0; 4]));
        let tail = u32::from_ne_bytes(src[n - 4..].try_into().unwrap_or([0; 4]));
        dst[n - 4..].copy_from_slice(&tail.to_ne_bytes());
        dst[..4].copy_from_slice(&head.to_ne_bytes());
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

pub use crate::fixed::U64Text;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_until_full_then_refuses_without_partial_write() {
        let mut buf = [0u8; 8];
        let mut w = WireWriter::new(&mut buf);
        w.bytes(b"abc").unwrap();
        w.u64(12345).unwrap();
        assert_eq!(w.written(), b"abc12345");
        assert_eq!(w.byte(b'x'), Err(BufferTooSmall { capacity: 8 }));
        assert_eq!(w.len(), 8);
        let mut small = [0u8; 4];
        let mut w = WireWriter::new(&mut small);
        w.bytes(b"ab").unwrap();
        assert!(w.bytes(b"cde").is_err());
        assert_eq!(w.written(), b"ab", "a refused write leaves no partial bytes");
    }

    #[test]
    fn short_copies_are_exact_for_every_length() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut dst = vec![0u8; n];
            copy_short(&mut dst, &src[..n]);
            assert_eq!(dst, &src[..n], "length {n}");
        }
    }

    #[test]
    fn numbers_render_exactly() {
        assert_eq!(U64Text::new(0).as_bytes(), b"0");
        assert_eq!(U64Text::new(u64::MAX).as_bytes(), b"18446744073709551615");
        let mut buf = [0u8; 32];
        let mut w = WireWriter::new(&mut buf);
        w.decimal(6_180_020, 2).unwrap();
        w.byte(b'|').unwrap();
        w.decimal(1, 3).unwrap();
        assert_eq!(w.written(), b"61800.2|0.001");
    }
}
