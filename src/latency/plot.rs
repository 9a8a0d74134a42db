//! The percentile-distribution plot in HdrHistogram's convention: latency
//! against `1/(1 − percentile)` on a logarithmic axis, so that 90 %, 99 %,
//! 99.9 %… are evenly spaced and the tail gets as much room as the body;
//! one line per stage. Written as SVG with `plotters`' SVG backend only
//! (text is left to the viewer: no font files, no system libraries).
//!
//! The latency axis is logarithmic too: a run's stages span four to five
//! orders of magnitude (80 ns bookTicker medians, millisecond maxima when
//! the VM is descheduled), which a linear axis would flatten.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// Why the plot could not be written.
///
/// # Errors
/// Returned by [`write_percentile_svg`].
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Nothing to plot.
    #[error("no stage has samples to plot")]
    Empty,
    /// Only SVG is written.
    #[error("{0}: the plot is written as SVG; give a file name ending in .svg")]
    NotSvg(String),
    /// Drawing or writing failed.
    #[error("plot {path}: {message}")]
    Draw {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Checks `path` before a run: it must end in `.svg` (so a mistyped
/// `--plot` fails before the measurement, not after).
///
/// # Errors
/// [`PlotError::NotSvg`].
pub fn check_plot_path(path: &Path) -> Result<(), PlotError> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
        Ok(())
    } else {
        Err(PlotError::NotSvg(path.display().to_string()))
    }
}

/// Points of a stage's percentile curve: `(1/(1 − q), latency µs)`, the
/// last (the maximum) placed at `x = count` (its percentile is `1 − 1/count`
/// at the resolution the sample count allows).
#[must_use]
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let count = h.len().max(1) as f64;
    let mut points = Vec::new();
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let x = if q < 1.0 { (1.0 / (1.0 - q)).min(count) } else { count };
        points.push((x.max(1.0), v.value_iterated_to().max(1) as f64 / 1000.0));
    }
    points
}

/// The percentile label of an x position (`10` → `90%`), for powers of ten.
fn percentile_label(x: f64) -> String {
    let decade = x.log10();
    if (decade - decade.round()).abs() > 1e-6 {
        return String::new();
    }
    let nines = decade.round() as i32;
    match nines {
        i32::MIN..=0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        2 => "99%".to_owned(),
        n => format!("99.{}%", "9".repeat((n - 2) as usize)),
    }
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Writes the plot of `series` (stage name, histogram in ns) to `path`.
///
/// # Errors
/// [`PlotError`]: nothing to plot, a name not ending in `.svg`, or a
/// drawing or I/O failure.
pub fn write_percentile_svg(path: &Path, title: &str, series: &[(&str, &Histogram<u64>)]) -> Result<(), PlotError> {
    check_plot_path(path)?;
    let curves: Vec<(&str, Vec<(f64, f64)>)> =
        series.iter().filter(|(_, h)| !h.is_empty()).map(|(name, h)| (*name, percentile_curve(h))).collect();
    if curves.is_empty() {
        return Err(PlotError::Empty);
    }
    let max_x = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.0)).fold(10.0f64, f64::max);
    let x_end = 10f64.powf(max_x.log10().ceil()).max(10.0);
    let (y_min, y_max) = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let y_lo = 10f64.powf(y_min.log10().floor());
    let y_hi = 10f64.powf(y_max.log10().ceil()).max(y_lo * 10.0);

    let draw_error =
        |e: &dyn std::fmt::Display| PlotError::Draw { path: path.display().to_string(), message: e.to_string() };
    let root = SVGBackend::new(path, (1000, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_error(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .margin_right(48)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d((1.0..x_end).log_scale(), (y_lo..y_hi).log_scale())
        .map_err(|e| draw_error(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile (axis: 1/(1-percentile), log)")
        .y_desc("latency, µs (log)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(|e| draw_error(&e))?;
    for (i, (name, curve)) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(curve.iter().copied(), color.stroke_width(2)))
            .map_err(|e| draw_error(&e))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| draw_error(&e))?;
    root.present().map_err(|e| draw_error(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_percentiles() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(100_000.0), "99.999%");
        assert_eq!(percentile_label(20.0), "");
    }

    #[test]
    fn curve_runs_from_the_minimum_to_the_maximum_at_the_count() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        let c = percentile_curve(&h);
        assert_eq!(c.first().unwrap().0, 1.0);
        let last = c.last().unwrap();
        assert_eq!(last.0, 10_000.0);
        assert!((last.1 - 10.0).abs() < 0.011, "the maximum, within 3 significant digits: {last:?}");
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "monotone");
        // The median sits at x = 2 with the median's value.
        let at2 = c.iter().find(|p| (p.0 - 2.0).abs() < 1e-9).unwrap();
        assert!((at2.1 - 5.0).abs() < 0.01, "{at2:?}");
    }

    #[test]
    fn writes_one_line_per_stage_and_refuses_other_formats() {
        let dir = std::env::temp_dir().join(format!("scalpel-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut a = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        let mut b = a.clone();
        for v in 0..1000u64 {
            a.record(100 + v).unwrap();
            b.record(1000 + 7 * v).unwrap();
        }
        let empty = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        let file = dir.join("p.svg");
        write_percentile_svg(&file, "t", &[("alpha", &a), ("beta", &b), ("none", &empty)]).unwrap();
        let svg = std::fs::read_to_string(&file).unwrap();
        assert!(svg.starts_with("<svg"));
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split_once("</text>")).map(|(x, _)| x.trim()))
            .collect();
        assert!(texts.contains(&"alpha") && texts.contains(&"beta") && !texts.contains(&"none"), "{texts:?}");
        assert!(texts.contains(&"99.9%"), "percentile labels on the x axis: {texts:?}");
        let strokes = |c: RGBColor| svg.matches(&format!("stroke=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2)).count();
        assert_eq!(
            (strokes(PALETTE[0]), strokes(PALETTE[1]), strokes(PALETTE[2])),
            (2, 2, 0),
            "a curve and a legend mark each"
        );
        assert!(matches!(write_percentile_svg(&dir.join("p.png"), "t", &[("a", &a)]), Err(PlotError::NotSvg(_))));
        assert!(matches!(write_percentile_svg(&file, "t", &[("e", &empty)]), Err(PlotError::Empty)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
