//! The append-only binary journal: every order, ack, fill, rejection, gate
//! refusal, risk decision, command and resync, plus latency summaries and
//! the count of telemetry dropped on the way.
//!
//! - [`record`]: the record types and the versioned, length-prefixed,
//!   checksummed format (layout documented there).
//! - [`JournalWriter`]: buffers records and writes them out when
//!   [`JournalWriter::poll`] finds the flush interval elapsed (default
//!   100 ms), so a crash loses at most the records of the last interval.
//!   With `sync` on (default) each flush is followed by `fdatasync`, so the
//!   bound holds for a machine crash too, not only a process crash.
//! - [`JournalReader`]: reads a journal back. A record cut short at the end
//!   of the file (a crash mid-write), or a final record whose checksum fails,
//!   or a zero-filled tail, is a [`ReadError::TornTail`]: reported, never
//!   decoded. A bad record followed by more data is [`ReadError::Corrupt`].
//! - [`thread`]: the journal thread loop over its two rings.
//! - [`print`]: `scalpel journal --input FILE [--json]`.
//!
//! The journal is opened with `create_new`: an existing file is never
//! truncated or appended to by a new session.

pub mod print;
pub mod record;
pub mod thread;

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::Path;

use crate::instrument::{Instrument, LoadError};
use record::{
    DecodeError, FRAME_LEN, HEADER_LEN, MAGIC, MAX_BODY_LEN, OLDEST_READABLE, VERSION, decode_body, encode_body,
};
pub use record::{JournalRecord, LogLevel, RingId, Stage};

/// A journal I/O or format problem.
///
/// # Errors
/// Returned by the writer, reader, thread and printer in this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// An I/O call failed.
    #[error("journal {op} failed: {kind}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The error kind.
        kind: io::ErrorKind,
    },
    /// The file does not start with the journal magic.
    #[error("not a scalpel journal (bad magic)")]
    BadMagic,
    /// The file is shorter than its header.
    #[error("journal header cut short")]
    ShortHeader,
    /// A version this code cannot read.
    #[error("unsupported journal version {0} (this build reads {OLDEST_READABLE} to {VERSION})")]
    UnsupportedVersion(u16),
    /// A record in the middle of the file is damaged.
    #[error("corrupt record at byte {offset}: {problem}")]
    Corrupt {
        /// Byte offset of the record's frame.
        offset: u64,
        /// What is wrong.
        problem: Corruption,
    },
}

fn io_err(op: &'static str) -> impl Fn(io::Error) -> JournalError {
    move |e| JournalError::Io { op, kind: e.kind() }
}

/// What is wrong with a corrupt record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The length field is zero or larger than any record.
    #[error("impossible length {0}")]
    Length(u32),
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// The checksum matches but the body does not decode.
    #[error("{0}")]
    Decode(DecodeError),
}

/// Where a file ends in a record cut short by a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where the torn record starts.
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
}

/// The end of a journal that is not a clean end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The file ends in a partial or unverifiable last record.
    #[error("torn tail at byte {}: {} bytes ignored", .0.offset, .0.bytes)]
    TornTail(TornTail),
    /// A damaged record, or an I/O failure.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Journal settings: the `[journal]` table of `tuning/risk.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalConfig {
    /// Longest time a record waits in memory before it is written, ms.
    pub flush_interval_ms: u32,
    /// `fdatasync` after each flush.
    pub sync: bool,
    /// How often latency summaries are journaled, ms.
    pub latency_report_ms: u32,
    /// Capacity of the hot thread's lossy telemetry ring.
    pub telemetry_ring_capacity: u32,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self { flush_interval_ms: 100, sync: true, latency_report_ms: 60_000, telemetry_ring_capacity: 1 << 14 }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawJournal {
    flush_interval_ms: u32,
    sync: bool,
    latency_report_secs: u32,
    telemetry_ring_capacity: u32,
}

impl Default for RawJournal {
    fn default() -> Self {
        let d = JournalConfig::default();
        Self {
            flush_interval_ms: d.flush_interval_ms,
            sync: d.sync,
            latency_report_secs: d.latency_report_ms / 1000,
            telemetry_ring_capacity: d.telemetry_ring_capacity,
        }
    }
}

impl RawJournal {
    pub(crate) fn validate(self) -> Result<JournalConfig, LoadError> {
        if self.flush_interval_ms == 0 || self.flush_interval_ms > 10_000 {
            return Err(LoadError::new("journal.flush_interval_ms", "must be between 1 and 10000"));
        }
        if self.latency_report_secs == 0 || self.latency_report_secs > 86_400 {
            return Err(LoadError::new("journal.latency_report_secs", "must be between 1 and 86400"));
        }
        if !(16..=1 << 24).contains(&self.telemetry_ring_capacity) {
            return Err(LoadError::new("journal.telemetry_ring_capacity", "must be between 16 and 16777216"));
        }
        Ok(JournalConfig {
            flush_interval_ms: self.flush_interval_ms,
            sync: self.sync,
            latency_report_ms: self.latency_report_secs * 1000,
            telemetry_ring_capacity: self.telemetry_ring_capacity,
        })
    }
}

impl JournalConfig {
    /// Parses the body of a `[journal]` table.
    ///
    /// # Errors
    /// A [`LoadError`] naming the `journal.*` key.
    pub fn from_table_str(text: &str) -> Result<Self, LoadError> {
        let raw: RawJournal = toml::from_str(text).map_err(|e| LoadError::toml("journal", text, &e))?;
        raw.validate()
    }
}

/// Where journal bytes go: a file (synced with `fdatasync`) or memory.
pub trait JournalSink: Write {
    /// Makes written bytes durable.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn sync(&mut self) -> io::Result<()>;
}

impl JournalSink for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

impl JournalSink for Vec<u8> {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Buffers records and writes them out on an interval.
#[derive(Debug)]
pub struct JournalWriter<S: JournalSink> {
    sink: S,
    buf: Vec<u8>,
    body: Vec<u8>,
    records: u64,
    flushes: u64,
    interval_ns: u64,
    last_flush_ns: u64,
    sync: bool,
}

/// Bytes buffered before a flush is forced regardless of the interval.
const FORCE_FLUSH_BYTES: usize = 1 << 20;

impl JournalWriter<File> {
    /// Creates a new journal file (refusing to overwrite one) and writes the
    /// header and one `Instrument` record per instrument.
    ///
    /// # Errors
    /// [`JournalError::Io`] when the file exists or cannot be written.
    pub fn create(
        path: &Path,
        instruments: &[Instrument],
        cfg: &JournalConfig,
        now_ns: u64,
    ) -> Result<Self, JournalError> {
        let file = File::options().write(true).create_new(true).open(path).map_err(io_err("create"))?;
        Self::new(file, instruments, cfg, now_ns)
    }
}

impl<S: JournalSink> JournalWriter<S> {
    /// A journal on `sink`: writes the header and the instrument records
    /// and flushes them at once.
    ///
    /// # Errors
    /// [`JournalError::Io`] when writing fails.
    pub fn new(sink: S, instruments: &[Instrument], cfg: &JournalConfig, now_ns: u64) -> Result<Self, JournalError> {
        let mut w = Self {
            sink,
            buf: Vec::with_capacity(FORCE_FLUSH_BYTES + MAX_BODY_LEN + FRAME_LEN),
            body: Vec::with_capacity(MAX_BODY_LEN),
            records: 0,
            flushes: 0,
            interval_ns: u64::from(cfg.flush_interval_ms) * 1_000_000,
            last_flush_ns: now_ns,
            sync: cfg.sync,
        };
        w.buf.extend_from_slice(MAGIC);
        w.buf.extend_from_slice(&VERSION.to_le_bytes());
        w.buf.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        w.buf.extend_from_slice(&0u32.to_le_bytes());
        for inst in instruments {
            w.append(
                now_ns,
                &JournalRecord::Instrument {
                    venue: inst.venue,
                    symbol: inst.symbol,
                    price_scale: inst.price_scale,
                    qty_scale: inst.qty_scale,
                },
            )?;
        }
        w.flush(now_ns)?;
        Ok(w)
    }

    /// Appends a record stamped `ts_ns` to the buffer (written at the next
    /// flush; a full buffer is flushed at once).
    ///
    /// # Errors
    /// [`JournalError::Io`] from a forced flush.
    pub fn append(&mut self, ts_ns: u64, record: &JournalRecord) -> Result<(), JournalError> {
        self.body.clear();
        encode_body(ts_ns, record, &mut self.body);
        debug_assert!(self.body.len() <= MAX_BODY_LEN);
        let crc = crc32fast::hash(&self.body);
        self.buf.extend_from_slice(&(self.body.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf.extend_from_slice(&self.body);
        self.records += 1;
        if self.buf.len() >= FORCE_FLUSH_BYTES {
            self.flush(self.last_flush_ns)?;
        }
        Ok(())
    }

    /// Flushes when at least the flush interval has passed since the last
    /// flush. Returns whether it flushed.
    ///
    /// # Errors
    /// [`JournalError::Io`] when writing or syncing fails.
    pub fn poll(&mut self, now_ns: u64) -> Result<bool, JournalError> {
        if now_ns.saturating_sub(self.last_flush_ns) >= self.interval_ns {
            self.flush(now_ns)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes everything buffered (and syncs when configured).
    ///
    /// # Errors
    /// [`JournalError::Io`] when writing or syncing fails.
    pub fn flush(&mut self, now_ns: u64) -> Result<(), JournalError> {
        self.last_flush_ns = now_ns;
        if self.buf.is_empty() {
            return Ok(());
        }
        self.sink.write_all(&self.buf).map_err(io_err("write"))?;
        self.sink.flush().map_err(io_err("flush"))?;
        if self.sync {
            self.sink.sync().map_err(io_err("sync"))?;
        }
        self.buf.clear();
        self.flushes += 1;
        Ok(())
    }

    /// Records appended so far (instrument records included).
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes that wrote bytes.
    #[must_use]
    pub fn flushes(&self) -> u64 {
        self.flushes
    }

    /// The sink (after a final flush by the caller).
    pub fn into_sink(self) -> S {
        self.sink
    }
}

/// One decoded record with its position in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Byte offset of the record's frame.
    pub offset: u64,
    /// When the journal thread appended it, ns since the epoch.
    pub ts_ns: u64,
    /// The record.
    pub record: JournalRecord,
}

/// Reads a journal record by record.
#[derive(Debug)]
pub struct JournalReader<R: BufRead> {
    src: R,
    offset: u64,
    body: Vec<u8>,
    done: bool,
}

impl<R: BufRead> JournalReader<R> {
    /// Checks the header.
    ///
    /// # Errors
    /// [`JournalError::BadMagic`], [`JournalError::ShortHeader`],
    /// [`JournalError::UnsupportedVersion`] or an I/O error.
    pub fn new(mut src: R) -> Result<Self, JournalError> {
        let mut header = [0u8; HEADER_LEN];
        let got = read_up_to(&mut src, &mut header).map_err(io_err("read"))?;
        if got < MAGIC.len() || header[..MAGIC.len()] != MAGIC[..] {
            return Err(if got < MAGIC.len() && MAGIC.starts_with(&header[..got]) {
                JournalError::ShortHeader
            } else {
                JournalError::BadMagic
            });
        }
        if got < HEADER_LEN {
            return Err(JournalError::ShortHeader);
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        if !(OLDEST_READABLE..=VERSION).contains(&version) {
            return Err(JournalError::UnsupportedVersion(version));
        }
        Ok(Self { src, offset: HEADER_LEN as u64, body: Vec::with_capacity(MAX_BODY_LEN), done: false })
    }

    fn rest_is_zero(&mut self) -> Result<(bool, u64), JournalError> {
        let mut all_zero = true;
        let mut n = 0u64;
        loop {
            let chunk = self.src.fill_buf().map_err(io_err("read"))?;
            if chunk.is_empty() {
                return Ok((all_zero, n));
            }
            all_zero &= chunk.iter().all(|&b| b == 0);
            let len = chunk.len();
            n += len as u64;
            self.src.consume(len);
        }
    }

    fn next_entry(&mut self) -> Result<Option<Entry>, ReadError> {
        let offset = self.offset;
        let mut frame = [0u8; FRAME_LEN];
        let got = read_up_to(&mut self.src, &mut frame).map_err(io_err("read"))?;
        if got == 0 {
            return Ok(None);
        }
        if got < FRAME_LEN {
            return Err(ReadError::TornTail(TornTail { offset, bytes: got as u64 }));
        }
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if len == 0 || len as usize > MAX_BODY_LEN {
            let (zero, rest) = self.rest_is_zero()?;
            if zero && frame.iter().all(|&b| b == 0) {
                return Err(ReadError::TornTail(TornTail { offset, bytes: FRAME_LEN as u64 + rest }));
            }
            return Err(JournalError::Corrupt { offset, problem: Corruption::Length(len) }.into());
        }
        self.body.resize(len as usize, 0);
        let got = read_up_to(&mut self.src, &mut self.body).map_err(io_err("read"))?;
        if got < len as usize {
            return Err(ReadError::TornTail(TornTail { offset, bytes: (FRAME_LEN + got) as u64 }));
        }
        if crc32fast::hash(&self.body) != crc {
            let at_end = self.src.fill_buf().map_err(io_err("read"))?.is_empty();
            if at_end {
                return Err(ReadError::TornTail(TornTail { offset, bytes: FRAME_LEN as u64 + u64::from(len) }));
            }
            return Err(JournalError::Corrupt { offset, problem: Corruption::Checksum }.into());
        }
        let (ts_ns, record) =
            decode_body(&self.body).map_err(|e| JournalError::Corrupt { offset, problem: Corruption::Decode(e) })?;
        self.offset += FRAME_LEN as u64 + u64::from(len);
        Ok(Some(Entry { offset, ts_ns, record }))
    }
}

impl<R: BufRead> Iterator for JournalReader<R> {
    type Item = Result<Entry, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn read_up_to<R: io::Read>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_errors() {
        assert_eq!(JournalConfig::from_table_str(""), Ok(JournalConfig::default()));
        let err = JournalConfig::from_table_str("flush_interval_ms = 0").unwrap_err();
        assert_eq!(err.key, "journal.flush_interval_ms");
        let err = JournalConfig::from_table_str("flush_every = 5").unwrap_err();
        assert!(err.problem.contains("unknown field"), "{err}");
    }

    fn journal_with(records: &[JournalRecord]) -> Vec<u8> {
        let mut w = JournalWriter::new(Vec::new(), &[], &JournalConfig::default(), 0).unwrap();
        for (i, r) in records.iter().enumerate() {
            w.append(i as u64, r).unwrap();
        }
        w.flush(0).unwrap();
        w.into_sink()
    }

    fn read_all(bytes: &[u8]) -> (Vec<Entry>, Option<ReadError>) {
        let mut entries = Vec::new();
        for item in JournalReader::new(bytes).unwrap() {
            match item {
                Ok(e) => entries.push(e),
                Err(e) => return (entries, Some(e)),
            }
        }
        (entries, None)
    }

    #[test]
    fn header_is_checked() {
        assert_eq!(JournalReader::new(&b"SCLP"[..]).unwrap_err(), JournalError::ShortHeader);
        assert_eq!(JournalReader::new(&b"NOTAJOURNALFILE!!"[..]).unwrap_err(), JournalError::BadMagic);
        let mut bytes = journal_with(&[]);
        bytes[8] = 9;
        assert_eq!(JournalReader::new(&bytes[..]).unwrap_err(), JournalError::UnsupportedVersion(9));
    }

    /// An order-context record damaged in the file is refused like any
    /// other: a checksum mismatch, or (checksum recomputed) a bad code.
    #[test]
    fn a_damaged_order_context_record_is_corruption() {
        use crate::order::ClientOrderId;
        use crate::signal::SignalSnapshot;
        let recs = [
            JournalRecord::EntrySignals {
                client_id: ClientOrderId(9),
                signals: record::SignalBits(SignalSnapshot::default()),
            },
            JournalRecord::Closed { records: 1 },
        ];
        let good = journal_with(&recs);
        let (entries, err) = read_all(&good);
        assert_eq!((entries.len(), err), (2, None));
        assert_eq!(entries[0].record, recs[0]);
        // The regime byte: body offset 28 (kind, ts, client id, ts_ms, warm, mask).
        let at = HEADER_LEN + FRAME_LEN + 28;
        let mut bad = good.clone();
        bad[at] = 9;
        let (entries, err) = read_all(&bad);
        assert!(entries.is_empty());
        assert_eq!(
            err,
            Some(ReadError::Journal(JournalError::Corrupt {
                offset: HEADER_LEN as u64,
                problem: Corruption::Checksum
            }))
        );
        let len = u32::from_le_bytes(bad[HEADER_LEN..HEADER_LEN + 4].try_into().unwrap()) as usize;
        let crc = crc32fast::hash(&bad[HEADER_LEN + FRAME_LEN..HEADER_LEN + FRAME_LEN + len]);
        bad[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&crc.to_le_bytes());
        let (_, err) = read_all(&bad);
        assert_eq!(
            err,
            Some(ReadError::Journal(JournalError::Corrupt {
                offset: HEADER_LEN as u64,
                problem: Corruption::Decode(DecodeError::Code("regime"))
            }))
        );
    }

    #[test]
    fn poll_flushes_only_after_the_interval() {
        let cfg = JournalConfig { flush_interval_ms: 100, ..JournalConfig::default() };
        let mut w = JournalWriter::new(Vec::new(), &[], &cfg, 1_000).unwrap();
        let header_only = HEADER_LEN;
        w.append(5, &JournalRecord::Closed { records: 0 }).unwrap();
        assert!(!w.poll(1_000 + 99_999_999).unwrap());
        assert_eq!(w.sink.len(), header_only);
        assert!(w.poll(1_000 + 100_000_000).unwrap());
        assert!(w.sink.len() > header_only);
    }

    #[test]
    fn mid_file_damage_is_corruption_tail_damage_is_torn() {
        let recs = [JournalRecord::Closed { records: 1 }, JournalRecord::Closed { records: 2 }];
        let good = journal_with(&recs);
        let rec_len = (good.len() - HEADER_LEN) / 2;
        // Flip a body byte of the first record: corrupt (more follows).
        let mut bad = good.clone();
        bad[HEADER_LEN + FRAME_LEN + 3] ^= 1;
        let (entries, err) = read_all(&bad);
        assert!(entries.is_empty());
        assert_eq!(
            err,
            Some(ReadError::Journal(JournalError::Corrupt {
                offset: HEADER_LEN as u64,
                problem: Corruption::Checksum
            }))
        );
        // Flip a byte of the last record: torn tail.
        let mut tail = good.clone();
        let last = tail.len() - 1;
        tail[last] ^= 1;
        let (entries, err) = read_all(&tail);
        assert_eq!(entries.len(), 1);
        let offset = (HEADER_LEN + rec_len) as u64;
        assert_eq!(err, Some(ReadError::TornTail(TornTail { offset, bytes: rec_len as u64 })));
        // A zero-filled tail (file extended but never written).
        let mut zeros = good.clone();
        zeros.extend_from_slice(&[0u8; 100]);
        let (entries, err) = read_all(&zeros);
        assert_eq!(entries.len(), 2);
        assert_eq!(err, Some(ReadError::TornTail(TornTail { offset: good.len() as u64, bytes: 100 })));
        // Garbage length followed by non-zero data: corrupt.
        let mut garbage = good.clone();
        garbage.extend_from_slice(&[0xFF; 12]);
        let (_, err) = read_all(&garbage);
        assert!(matches!(err, Some(ReadError::Journal(JournalError::Corrupt { problem: Corruption::Length(_), .. }))));
    }
}
