//! Synthetic session generation speed: frames of a 60-second BTCUSDT
//! session at the calibrated rate, generated in memory (model, publication
//! and frame writing; no I/O), per venue. Throughput is reported in frames;
//! one hour at the real recording's ~270 frames/s is about 1.1 M Binance
//! frames. Run with `cargo bench --bench synth`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scalpel::synth::{Synth, SynthConfig};
use scalpel::venue::Venue;

const SECONDS: f64 = 60.0;

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("synth");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for venue in [Venue::BinanceUsdm, Venue::BybitLinear] {
        let mut config = SynthConfig::built_in(venue, "BTCUSDT".parse().unwrap(), 1, SECONDS).unwrap();
        // Warm-up is set-up cost, not generation: time the session alone.
        config.warmup_s = 0.0;
        let mut probe = Synth::new(&config).unwrap();
        let mut frames = 0u64;
        while probe.next_frame().is_some() {
            frames += 1;
        }
        group.throughput(Throughput::Elements(frames));
        group.bench_function(format!("{venue} 60 s session"), |b| {
            b.iter(|| {
                let mut synth = Synth::new(&config).unwrap();
                let mut bytes = 0usize;
                while let Some(frame) = synth.next_frame() {
                    bytes += frame.bytes.len();
                }
                black_box(bytes)
            });
        });
    }
    group.finish();
}

criterion_group!(synth, benches);
criterion_main!(synth);
