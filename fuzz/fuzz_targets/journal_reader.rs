//! The journal reader and `scalpel journal`'s printer.
//!
//! Mode 0 (`data[0]` even): the bytes are a journal file as found on disk:
//! read record by record and printed as human lines and as JSON; any
//! outcome but a panic is fine (a bad header, a torn tail, corruption).
//!
//! Mode 1: the bytes after `data[0]` are record bodies (`len:u8 body[len]`
//! each), framed here with their true length and CRC so that the reader's
//! body decoder is reached, optionally cut short at the end (a torn tail).
//! Every record the reader returns must equal `decode_body` of its body;
//! every record that decodes must survive a write through `JournalWriter`
//! and a read back unchanged; a cut inside the last record must be reported
//! as a torn tail, never as corruption or a record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::journal::print::print_journal;
use scalpel::journal::record::{FRAME_LEN, HEADER_LEN, MAGIC, VERSION, decode_body};
use scalpel::journal::{JournalConfig, JournalReader, JournalRecord, JournalWriter, ReadError};

fn print_both_ways(file: &[u8]) {
    for json in [false, true] {
        let mut out = Vec::new();
        let _ = print_journal(file, json, &mut out);
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else { return };
    if mode % 2 == 0 {
        if let Ok(reader) = JournalReader::new(rest) {
            for _ in reader {}
        }
        print_both_ways(rest);
        return;
    }

    let mut file = Vec::with_capacity(HEADER_LEN + rest.len() * 2);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&VERSION.to_le_bytes());
    file.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    let mut bodies: Vec<&[u8]> = Vec::new();
    let mut at = rest;
    while let [len, tail @ ..] = at {
        let len = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(len);
        if body.is_empty() {
            break;
        }
        bodies.push(body);
        at = next;
    }
    for body in &bodies {
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        file.extend_from_slice(body);
    }
    // Cut `mode >> 1` bytes off the end (0: a clean end).
    let cut = usize::from(mode >> 1).min(file.len() - HEADER_LEN);
    let whole = file.len();
    file.truncate(whole - cut);

    let reader = JournalReader::new(&file[..]).expect("a valid header");
    let mut decoded: Vec<(u64, JournalRecord)> = Vec::new();
    let mut offset = HEADER_LEN;
    let mut ended = None;
    for (item, body) in reader.zip(bodies.iter().chain(std::iter::repeat(&&[][..]))) {
        match item {
            Ok(entry) => {
                assert_eq!(entry.offset as usize, offset);
                assert_eq!(decode_body(body), Ok((entry.ts_ns, entry.record)), "record at {offset}");
                decoded.push((entry.ts_ns, entry.record));
                offset += FRAME_LEN + body.len();
            }
            Err(e) => {
                ended = Some(e);
                break;
            }
        }
    }
    match ended {
        // A clean end (possibly a cut exactly between records): every byte read.
        None => assert_eq!(offset, file.len(), "reader stopped early without an error"),
        Some(ReadError::TornTail(t)) => {
            assert!(cut > 0, "torn tail on a whole file");
            assert_eq!(t.offset as usize, offset);
            assert_eq!((t.offset + t.bytes) as usize, file.len());
        }
        Some(ReadError::Journal(_)) => {
            // Corruption: a body that does not decode, before the end.
            let body = bodies.get(decoded.len()).expect("corruption past the last record");
            assert!(decode_body(body).is_err(), "a decodable record reported as corrupt");
        }
    }
    print_both_ways(&file);

    // Whatever decoded is written again and must read back the same.
    let mut writer = JournalWriter::new(Vec::new(), &[], &JournalConfig::default(), 0).expect("in memory");
    for (ts, record) in &decoded {
        writer.append(*ts, record).expect("in memory");
    }
    writer.flush(0).expect("in memory");
    let written = writer.into_sink();
    let back: Vec<(u64, JournalRecord)> = JournalReader::new(&written[..])
        .expect("own header")
        .map(|e| e.map(|e| (e.ts_ns, e.record)).expect("own records read back"))
        .collect();
    assert_eq!(back, decoded, "records changed through a write and a read");
});
