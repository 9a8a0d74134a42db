//! Recorded market data: one frame per line, `<local_receive_ts_ns> <raw
//! frame text>`, plain or gzip (detected from the file's first two bytes,
//! not its name). REST snapshots are lines too.
//!
//! [`FrameReader`] streams a file line by line into a caller-owned buffer;
//! [`Recording`] loads a whole file into memory for replays that must not
//! touch the disk while they are timed. A malformed line (no space, a
//! timestamp that is not a non-negative integer, an empty frame) is counted
//! and skipped, never guessed at.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Why a line was skipped.
///
/// # Errors
/// Reported per line by [`FrameReader::next_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// No space separating timestamp and frame.
    #[error("line has no space between timestamp and frame")]
    NoSeparator,
    /// The timestamp is not a non-negative integer.
    #[error("line timestamp is not a non-negative integer")]
    BadTimestamp,
    /// Nothing after the timestamp.
    #[error("line has an empty frame")]
    EmptyFrame,
}

/// Opens a recording, transparently un-gzipping it.
///
/// # Errors
/// I/O errors opening or sniffing the file.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    decompressing(BufReader::with_capacity(1 << 20, File::open(path)?))
}

/// Recorded text from `input`, un-gzipped when it starts with the gzip
/// magic bytes (several gzip members are read one after another).
///
/// # Errors
/// I/O errors reading the first bytes.
pub fn decompressing<'r, R: BufRead + 'r>(mut input: R) -> io::Result<Box<dyn BufRead + 'r>> {
    let gzip = input.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(1 << 20, flate2::bufread::MultiGzDecoder::new(input)))
    } else {
        Box::new(input)
    })
}

/// Splits one line (without its newline) into timestamp and frame.
///
/// # Errors
/// A [`LineError`] describing the malformation.
pub fn split_line(line: &[u8]) -> Result<(u64, &[u8]), LineError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let space = line.iter().position(|&b| b == b' ').ok_or(LineError::NoSeparator)?;
    let (ts, frame) = (&line[..space], &line[space + 1..]);
    if ts.is_empty() || ts.len() > 19 || !ts.iter().all(u8::is_ascii_digit) {
        return Err(LineError::BadTimestamp);
    }
    let ts = ts.iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    if frame.is_empty() {
        return Err(LineError::EmptyFrame);
    }
    Ok((ts, frame))
}

/// Streams frames from a recording.
pub struct FrameReader<R> {
    input: R,
    line: Vec<u8>,
    line_no: u64,
}

/// One item from [`FrameReader::next_frame`].
#[derive(Debug)]
pub enum ReadItem {
    /// A frame was copied into the caller's buffer; its local receive time.
    Frame(u64),
    /// Line `line_no` was malformed and skipped.
    BadLine(u64, LineError),
}

impl<R: BufRead> FrameReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        Self { input, line: Vec::with_capacity(64 * 1024), line_no: 0 }
    }

    /// 1-based number of the last line read.
    #[must_use]
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Reads the next non-empty line; on success the frame is in `frame`
    /// (replacing its contents).
    ///
    /// # Errors
    /// I/O errors (including a corrupt gzip stream).
    pub fn next_frame(&mut self, frame: &mut Vec<u8>) -> io::Result<Option<ReadItem>> {
        loop {
            self.line.clear();
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            if line.is_empty() || line == b"\r" {
                continue;
            }
            return Ok(Some(match split_line(line) {
                Ok((ts, body)) => {
                    frame.clear();
                    frame.extend_from_slice(body);
                    ReadItem::Frame(ts)
                }
                Err(e) => ReadItem::BadLine(self.line_no, e),
            }));
        }
    }
}

/// A whole recording in memory: the frames back to back in one buffer.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    bytes: Vec<u8>,
    frames: Vec<(u64, usize, usize)>,
    bad_lines: u64,
}

impl Recording {
    /// Loads every frame of a file.
    ///
    /// # Errors
    /// I/O errors.
    pub fn load(path: &Path) -> io::Result<Self> {
        let mut input = open(path)?;
        let mut text = Vec::new();
        input.read_to_end(&mut text)?;
        Ok(Self::from_bytes(&text))
    }

    /// Parses recorded lines held in memory.
    #[must_use]
    pub fn from_bytes(text: &[u8]) -> Self {
        let mut rec = Recording { bytes: Vec::with_capacity(text.len()), ..Default::default() };
        for line in text.split(|&b| b == b'\n') {
            if line.is_empty() || line == b"\r" {
                continue;
            }
            match split_line(line) {
                Ok((ts, frame)) => {
                    let start = rec.bytes.len();
                    rec.bytes.extend_from_slice(frame);
                    rec.frames.push((ts, start, rec.bytes.len()));
                }
                Err(_) => rec.bad_lines += 1,
            }
        }
        rec
    }

    /// Number of frames.
    #[must_use]
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// `true` when there are no frames.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Lines that were malformed and skipped.
    #[must_use]
    pub fn bad_lines(&self) -> u64 {
        self.bad_lines
    }

    /// Frame `i`: local receive time and text.
    #[must_use]
    pub fn frame(&self, i: usize) -> Option<(u64, &[u8])> {
        self.frames.get(i).map(|&(ts, start, end)| (ts, &self.bytes[start..end]))
    }

    /// All frame text, back to back.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Every frame as (local receive time, start, end) into [`Recording::bytes`].
    #[must_use]
    pub fn spans(&self) -> &[(u64, usize, usize)] {
        &self.frames
    }

    /// All frames in file order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.frames.iter().map(|&(ts, start, end)| (ts, &self.bytes[start..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines() {
        assert_eq!(split_line(b"123 {\"a\":1}"), Ok((123, &b"{\"a\":1}"[..])));
        assert_eq!(split_line(b"123 {}\r"), Ok((123, &b"{}"[..])));
        assert_eq!(split_line(b"123{}"), Err(LineError::NoSeparator));
        assert_eq!(split_line(b"12a {}"), Err(LineError::BadTimestamp));
        assert_eq!(split_line(b"{}"), Err(LineError::NoSeparator));
        assert_eq!(split_line(b"-1 {}"), Err(LineError::BadTimestamp));
        assert_eq!(split_line(b" {}"), Err(LineError::BadTimestamp));
        assert_eq!(split_line(b"99999999999999999999 {}"), Err(LineError::BadTimestamp));
        assert_eq!(split_line(b"1 "), Err(LineError::EmptyFrame));
    }

    #[test]
    fn reader_counts_bad_lines_and_skips_blank_ones() {
        let text = b"1 {\"a\":1}\n\nbad\n2 {\"b\":2}\n";
        let mut reader = FrameReader::new(&text[..]);
        let mut frame = Vec::new();
        let mut seen = Vec::new();
        while let Some(item) = reader.next_frame(&mut frame).unwrap() {
            match item {
                ReadItem::Frame(ts) => seen.push(format!("{ts}:{}", String::from_utf8_lossy(&frame))),
                ReadItem::BadLine(n, e) => seen.push(format!("bad{n}:{e:?}")),
            }
        }
        assert_eq!(seen, vec!["1:{\"a\":1}", "bad3:NoSeparator", "2:{\"b\":2}"]);
        let rec = Recording::from_bytes(text);
        assert_eq!((rec.len(), rec.bad_lines()), (2, 1));
        assert_eq!(rec.frame(1), Some((2, &b"{\"b\":2}"[..])));
    }
}
