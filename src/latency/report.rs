//! Per-stage histograms and what is printed from them: the percentile
//! table, HdrHistogram `.hgrm` files, and the fields of the final JSON line.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

/// Highest latency a histogram tracks: 60 s (larger samples saturate).
pub const MAX_TRACKABLE_NS: u64 = 60_000_000_000;

/// One histogram per named stage (1 ns to 60 s, 3 significant digits).
#[derive(Debug, Clone)]
pub struct StageHistograms {
    names: Vec<String>,
    histograms: Vec<Histogram<u64>>,
}

impl StageHistograms {
    /// Empty histograms for these stages (allocated here, once).
    #[must_use]
    pub fn new(names: Vec<String>) -> Self {
        let histograms = names
            .iter()
            .map(|_| {
                // Constant bounds that hdrhistogram accepts: low ≥ 1,
                // high ≥ 2 × low, 3 significant digits ≤ 5.
                Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, 3).expect("constant histogram bounds are valid")
            })
            .collect();
        Self { names, histograms }
    }

    /// Records one sample of `stage` (0 ns records as 1 ns, the histogram's
    /// floor; above 60 s as 60 s). Unknown stages are ignored.
    #[inline]
    pub fn record(&mut self, stage: usize, ns: u64) {
        if let Some(h) = self.histograms.get_mut(stage) {
            h.saturating_record(ns.max(1));
        }
    }

    /// Adds every sample of `h` to `stage` (a histogram recorded
    /// elsewhere: the simulator's stamps, the floor). Samples beyond this
    /// histogram's range count at its highest value. Unknown stages are
    /// ignored.
    pub fn add(&mut self, stage: usize, h: &Histogram<u64>) {
        if let Some(mine) = self.histograms.get_mut(stage) {
            for v in h.iter_recorded() {
                let value = v.value_iterated_to().clamp(1, MAX_TRACKABLE_NS);
                let _ = mine.record_n(value, v.count_at_value());
            }
        }
    }

    /// The histogram of a stage.
    #[must_use]
    pub fn get(&self, stage: usize) -> Option<&Histogram<u64>> {
        self.histograms.get(stage)
    }

    /// The histogram of the stage with this name.
    #[must_use]
    pub fn by_name(&self, name: &str) -> Option<&Histogram<u64>> {
        self.names.iter().position(|n| n == name).and_then(|i| self.histograms.get(i))
    }

    /// Stage names, in stage order.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Stages that have samples, in stage order.
    pub fn non_empty(&self) -> impl Iterator<Item = (&str, &Histogram<u64>)> + '_ {
        self.names.iter().zip(&self.histograms).filter(|(_, h)| !h.is_empty()).map(|(n, h)| (n.as_str(), h))
    }

    /// Percentiles of every stage that has samples.
    #[must_use]
    pub fn stats(&self) -> Vec<StageStats> {
        self.non_empty().map(|(name, h)| StageStats::of(name, h)).collect()
    }
}

/// Percentiles of one stage, in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct StageStats {
    /// Stage name.
    pub name: String,
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest sample.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl StageStats {
    /// The percentiles of `h` (values are HdrHistogram's: equivalent within
    /// its 3 significant digits, reported as the highest equivalent value).
    #[must_use]
    pub fn of(name: &str, h: &Histogram<u64>) -> Self {
        Self {
            name: name.to_owned(),
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            mean: h.mean(),
        }
    }

    /// The stage as a JSON object `{"count":…,"p50_ns":…,…}`.
    #[must_use]
    pub fn json_object(&self) -> String {
        format!(
            "{{\"count\":{},\"p50_ns\":{},\"p90_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"p9999_ns\":{},\"max_ns\":{}}}",
            self.count, self.p50, self.p90, self.p99, self.p999, self.p9999, self.max
        )
    }
}

/// Writes the per-stage table: one row per stage, nanoseconds.
///
/// # Errors
/// Output errors.
pub fn write_table(out: &mut impl Write, first_column: &str, stats: &[StageStats]) -> io::Result<()> {
    let width = stats.iter().map(|s| s.name.len()).chain([first_column.len(), 12]).max().unwrap_or(12);
    writeln!(
        out,
        "{first_column:<width$} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>11}",
        "count", "p50 ns", "p90 ns", "p99 ns", "p99.9 ns", "p99.99 ns", "max ns"
    )?;
    for s in stats {
        writeln!(
            out,
            "{:<width$} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>11}",
            s.name, s.count, s.p50, s.p90, s.p99, s.p999, s.p9999, s.max
        )?;
    }
    Ok(())
}

/// Writes a histogram in HdrHistogram's percentile-distribution (`.hgrm`)
/// text format (as `HistogramLogProcessor` and the online plotter read it);
/// values in nanoseconds.
///
/// # Errors
/// I/O errors.
pub fn write_hgrm(out: &mut impl Write, h: &Histogram<u64>) -> io::Result<()> {
    writeln!(out, "       Value     Percentile TotalCount 1/(1-Percentile)\n")?;
    let mut total = 0u64;
    for v in h.iter_quantiles(1) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            writeln!(out, "{:12.3} {:14.12} {:10} {:14.2}", v.value_iterated_to() as f64, q, total, 1.0 / (1.0 - q))?;
        } else {
            writeln!(out, "{:12.3} {:14.12} {:10}", v.value_iterated_to() as f64, q, total)?;
        }
    }
    writeln!(out, "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]", h.mean(), h.stdev())?;
    writeln!(out, "#[Max     = {:12.3}, Total count    = {:12}]", h.max() as f64, h.len())?;
    writeln!(out, "#[Buckets = {:12}, SubBuckets     = {:12}]", h.buckets(), h.distinct_values())?;
    Ok(())
}

/// Refuses an `--hgrm-dir` that exists and is not a directory (checked
/// before measuring, so a long run does not end in an error).
///
/// # Errors
/// An [`io::ErrorKind::AlreadyExists`] error naming the path.
pub fn check_hgrm_dir(dir: &Path) -> io::Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("--hgrm-dir {}: exists and is not a directory", dir.display()),
        )),
        _ => Ok(()),
    }
}

/// Writes one `.hgrm` file per stage with samples into `dir` (created if
/// missing), named `{prefix}-{stage}.hgrm`; returns the paths written.
///
/// # Errors
/// I/O errors, and `dir` existing as something other than a directory.
pub fn write_hgrm_files(dir: &Path, prefix: &str, histograms: &StageHistograms) -> io::Result<Vec<PathBuf>> {
    check_hgrm_dir(dir)?;
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, h) in histograms.non_empty() {
        let path = dir.join(format!("{prefix}-{name}.hgrm"));
        let mut file = io::BufWriter::new(std::fs::File::create(&path)?);
        write_hgrm(&mut file, h)?;
        file.flush()?;
        written.push(path);
    }
    Ok(written)
}

/// A one-line JSON object built field by field, in insertion order (the
/// harness's last stdout line). Keys and string values are escaped.
#[derive(Debug, Default, Clone)]
pub struct JsonLine {
    body: String,
}

impl JsonLine {
    /// An empty object.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&mut self, key: &str) {
        if !self.body.is_empty() {
            self.body.push(',');
        }
        self.body.push_str(&json_string(key));
        self.body.push(':');
    }

    /// A string field.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.body.push_str(&json_string(value));
        self
    }

    /// An integer field.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.body, "{value}");
        self
    }

    /// An integer field that may be absent (`null`).
    pub fn opt_u64(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.u64(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// A number field; non-finite values are written as `null`.
    pub fn f64(&mut self, key: &str, value: f64, decimals: usize) -> &mut Self {
        if value.is_finite() {
            self.key(key);
            let _ = write!(self.body, "{value:.decimals$}");
            self
        } else {
            self.raw(key, "null")
        }
    }

    /// A number field in its shortest exact form (`0`, `0.5`); non-finite
    /// values are written as `null`.
    pub fn num(&mut self, key: &str, value: f64) -> &mut Self {
        if value.is_finite() {
            self.key(key);
            let _ = write!(self.body, "{value}");
            self
        } else {
            self.raw(key, "null")
        }
    }

    /// A boolean field.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// A field whose value is already JSON (an object from
    /// [`StageStats::json_object`] or another [`JsonLine`]).
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.body.push_str(json);
        self
    }

    /// The object's text.
    #[must_use]
    pub fn finish(&self) -> String {
        format!("{{{}}}", self.body)
    }
}

/// `text` as a JSON string literal.
#[must_use]
pub fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_table_and_json() {
        let mut h = StageHistograms::new(vec!["a".into(), "empty".into(), "b".into()]);
        for v in 1..=1000u64 {
            h.record(0, v);
        }
        h.record(2, 0);
        h.record(7, 5); // unknown stage: ignored
        let stats = h.stats();
        assert_eq!(stats.len(), 2);
        assert_eq!((stats[0].p50, stats[0].p90, stats[0].p99, stats[0].max), (500, 900, 990, 1000));
        assert_eq!((stats[1].name.as_str(), stats[1].count, stats[1].max), ("b", 1, 1));
        let mut table = Vec::new();
        write_table(&mut table, "stage", &stats).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert_eq!(table.lines().count(), 3);
        assert!(table.lines().nth(1).unwrap().starts_with("a "));
        let v: serde_json::Value = serde_json::from_str(&stats[0].json_object()).unwrap();
        assert_eq!(v["p99_ns"], 990);
        let mut line = JsonLine::new();
        line.str("path", "de\"code").u64("n", 3).opt_u64("none", None).f64("x", f64::NAN, 1).bool("t", true);
        line.raw("a", &stats[0].json_object());
        let v: serde_json::Value = serde_json::from_str(&line.finish()).unwrap();
        assert_eq!(
            (v["path"].as_str(), v["n"].as_u64(), v["none"].is_null(), v["x"].is_null()),
            (Some("de\"code"), Some(3), true, true)
        );
        assert_eq!(v["a"]["count"], 1000);
    }

    #[test]
    fn hgrm_files_refuse_a_file_in_the_way() {
        let dir = std::env::temp_dir().join(format!("scalpel-hgrm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut h = StageHistograms::new(vec!["a".into(), "b".into()]);
        h.record(0, 42);
        let written = write_hgrm_files(&dir, "p", &h).unwrap();
        assert_eq!(written, vec![dir.join("p-a.hgrm")]);
        let text = std::fs::read_to_string(&written[0]).unwrap();
        assert!(text.contains("#[Max     =       42.000, Total count    =            1]"), "{text}");
        let file = dir.join("p-a.hgrm");
        let err = write_hgrm_files(&file, "p", &h).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("not a directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
