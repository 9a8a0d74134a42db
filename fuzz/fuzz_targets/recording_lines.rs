//! The recording-line reader: `<local_ts_ns> <frame>` lines, plain or gzip.
//!
//! The bytes are read as a recording by the streaming [`FrameReader`]
//! (through [`recording::decompressing`], as `scalpel book` opens a file)
//! and by the in-memory [`Recording`]; both must see the same frames with
//! the same timestamps and the same number of bad lines, every non-blank
//! line is one or the other, and a frame never contains a newline. The
//! same text gzipped (in two members) must read back identically. Bytes
//! that start like gzip but are not must end in an error, not a panic.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use scalpel::recording::{self, FrameReader, ReadItem, Recording};

type Frames = (Vec<(u64, Vec<u8>)>, Vec<u64>);

fn stream(bytes: &[u8]) -> std::io::Result<Frames> {
    let mut reader = FrameReader::new(recording::decompressing(bytes)?);
    let mut frame = Vec::new();
    let (mut frames, mut bad) = (Vec::new(), Vec::new());
    while let Some(item) = reader.next_frame(&mut frame)? {
        match item {
            ReadItem::Frame(ts) => {
                assert!(!frame.is_empty() && !frame.contains(&b'\n'));
                frames.push((ts, frame.clone()));
            }
            ReadItem::BadLine(n, _) => {
                assert_eq!(n, reader.line_no());
                bad.push(n);
            }
        }
    }
    Ok((frames, bad))
}

fuzz_target!(|data: &[u8]| {
    let Ok((frames, bad)) = stream(data) else {
        // Only a gzip stream can fail to read from memory.
        assert!(data.starts_with(&[0x1f, 0x8b]), "plain bytes failed to read");
        return;
    };
    if data.starts_with(&[0x1f, 0x8b]) {
        return;
    }
    let rec = Recording::from_bytes(data);
    let in_memory: Vec<(u64, Vec<u8>)> = rec.iter().map(|(ts, f)| (ts, f.to_vec())).collect();
    assert_eq!(in_memory, frames, "streaming and in-memory readers disagree");
    assert_eq!(rec.bad_lines(), bad.len() as u64);
    // Every non-blank line is either a frame or a bad line.
    let lines = data.split(|&b| b == b'\n').filter(|l| !l.is_empty() && *l != b"\r").count();
    assert_eq!(lines, frames.len() + bad.len());
    for (ts, frame) in &frames {
        let mut line = ts.to_string().into_bytes();
        line.push(b' ');
        line.extend_from_slice(frame);
        line.push(b'\n');
        // A frame the reader accepted reads back alone as the same frame
        // (a frame ending in '\r' loses one '\r' to the line ending rule).
        if !frame.ends_with(b"\r") {
            assert_eq!(
                Recording::from_bytes(&line).iter().map(|(t, f)| (t, f.to_vec())).collect::<Vec<_>>(),
                vec![(*ts, frame.clone())]
            );
        }
    }

    // The same text gzipped, in two members, reads back identically.
    let half = data.len() / 2;
    let mut gz = Vec::new();
    for part in [&data[..half], &data[half..]] {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(part).expect("in memory");
        gz.extend(enc.finish().expect("in memory"));
    }
    let (gz_frames, gz_bad) = stream(&gz).expect("our own gzip reads");
    assert_eq!((gz_frames, gz_bad), (frames, bad), "gzip and plain readers disagree");
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..]).read_to_end(&mut plain).expect("gunzip");
    assert_eq!(plain, data);
});
