//! Axis arithmetic: placing values on an axis, padding ranges, choosing and labelling ticks.
//!
//! Charts are drawn on linear plotters axes in "plot coordinates": the value itself on a
//! linear axis, `log10(value)` on a log axis. Ticks are chosen here so that log axes get round
//! powers of ten.

use super::Scale;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use std::ops::Range;

/// Values of larger magnitude cannot be placed on a linear axis of finite length.
const MAX_MAGNITUDE: f64 = 1e300;

/// The plot coordinate of `v`, or `None` when it cannot be drawn on this scale.
pub(super) fn to_plot(scale: Scale, v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    match scale {
        Scale::Linear => (v.abs() <= MAX_MAGNITUDE).then_some(v),
        Scale::Log10 => (v > 0.0).then(|| v.log10()),
    }
}

/// The smallest interval holding every value seen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Extent(Option<(f64, f64)>);

impl Extent {
    pub(super) fn add(&mut self, v: f64) {
        self.0 = Some(match self.0 {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }

    pub(super) fn get(self) -> Option<(f64, f64)> {
        self.0
    }
}

/// Whether `[lo, hi]` is too narrow to divide (coinciding values, or a span lost in rounding).
pub(super) fn is_degenerate(lo: f64, hi: f64) -> bool {
    let span = hi - lo;
    !(span > 1e-9 * lo.abs().max(hi.abs()) && span > 1e-250)
}

/// Widens a degenerate interval around its centre.
pub(super) fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if !is_degenerate(lo, hi) {
        return (lo, hi);
    }
    let centre = lo / 2.0 + hi / 2.0;
    let pad = if centre.abs() > 1e-250 {
        0.1 * centre.abs()
    } else {
        1.0
    };
    (centre - pad, centre + pad)
}

/// The axis range for the values in `extent`: widened if degenerate, then padded by `margin`
/// of its span on both sides; `0..1` when there are none.
pub(super) fn axis_range(extent: Extent, margin: f64) -> (f64, f64) {
    match extent.get() {
        None => (0.0, 1.0),
        Some((lo, hi)) => {
            let (lo, hi) = widen(lo, hi);
            let pad = (hi - lo) * margin;
            (lo - pad, hi + pad)
        }
    }
}

/// The labelled ticks and the light grid lines of an axis over `[lo, hi]` (plot coordinates).
pub(super) fn ticks(scale: Scale, lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let linear = |n: usize| RangedCoordf64::from(lo..hi).key_points(n);
    match scale {
        Scale::Linear => (linear(10), linear(50)),
        Scale::Log10 => log_ticks(lo, hi).unwrap_or_else(|| (linear(10), Vec::new())),
    }
}

/// A linear plotters axis over plot coordinates with ticks chosen by [`ticks`].
#[derive(Debug, Clone)]
pub(super) struct Axis {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Axis {
    /// The axis over `[lo, hi]` in plot coordinates of `scale`.
    pub(super) fn new(scale: Scale, (lo, hi): (f64, f64)) -> Self {
        let (bold, light) = ticks(scale, lo, hi);
        Self {
            lo,
            hi,
            bold,
            light,
        }
    }
}

impl Ranged for Axis {
    type ValueType = f64;
    // Labels always come from `label` through the mesh's formatters.
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Ticks at powers of ten (or at 1, 2 and 5 times them on short axes); `None` when fewer than
/// two fit.
fn log_ticks(lo: f64, hi: f64) -> Option<(Vec<f64>, Vec<f64>)> {
    let inside = |v: f64| v >= lo && v <= hi;
    // Plot coordinates of log axes lie within about +-330, so these loops are short.
    let first = lo.floor() as i64;
    let last = hi.ceil() as i64;
    let decades: Vec<i64> = (first..=last).filter(|&d| inside(d as f64)).collect();
    let multiples = |ms: &[f64]| -> Vec<f64> {
        (first..=last)
            .flat_map(|d| ms.iter().map(move |m| m.log10() + d as f64))
            .filter(|&v| inside(v))
            .collect()
    };
    let all: Vec<f64> = (2..=9).map(f64::from).collect();
    if decades.len() >= 2 {
        let step = decades.len().div_ceil(10);
        let bold: Vec<f64> = decades
            .iter()
            .filter(|&&d| d.rem_euclid(step as i64) == 0)
            .map(|&d| d as f64)
            .collect();
        let light = if step == 1 && decades.len() <= 8 {
            multiples(&all)
        } else {
            decades.iter().map(|&d| d as f64).collect()
        };
        return (bold.len() >= 2).then_some((bold, light));
    }
    let bold = multiples(&[1.0, 2.0, 5.0]);
    (bold.len() >= 2).then(|| (bold, multiples(&all)))
}

/// A tick label: six significant digits, or more when the axis spans less than the value's
/// sixth digit (so neighbouring ticks differ), plain between 0.001 and 10^6, otherwise
/// in `1.5e-7` form; values within `span * 1e-9` of zero are "0".
pub(super) fn format_number(v: f64, span: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if v == 0.0 || v.abs() < span * 1e-9 {
        return "0".to_string();
    }
    let magnitude = v.abs();
    if (1e-3..1e6).contains(&magnitude) {
        // Enough digits for six significant ones, and for ticks a tenth of the span apart.
        let significant = 5 - magnitude.log10().floor() as i32;
        let resolving = if span > 0.0 && span.is_finite() {
            2 - span.log10().floor() as i32
        } else {
            0
        };
        let decimals = significant.max(resolving).clamp(0, 12) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    } else {
        let text = format!("{v:.5e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) => format!("{}e{exponent}", trim_zeros(mantissa)),
            None => text,
        }
    }
}

/// The label of plot coordinate `v` on an axis with this scale and span.
pub(super) fn label(scale: Scale, v: f64, span: f64) -> String {
    match scale {
        Scale::Linear => format_number(v, span),
        Scale::Log10 => {
            let value = if (v - v.round()).abs() < 1e-9 {
                10f64.powi(v.round() as i32)
            } else {
                10f64.powf(v)
            };
            format_number(value, 0.0)
        }
    }
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(format_number(0.30000000000000004, 1.0), "0.3");
        assert_eq!(format_number(5.551115123125783e-17, 1.0), "0");
        assert_eq!(format_number(-2.5, 1.0), "-2.5");
        assert_eq!(format_number(123456.0, 1.0), "123456");
        assert_eq!(format_number(0.001234, 1.0), "0.001234");
        assert_eq!(format_number(1e-5, 0.0), "1e-5");
        assert_eq!(format_number(-2.5e7, 0.0), "-2.5e7");
        assert_eq!(format_number(f64::NAN, 0.0), "");
        // Ticks 1e-6 apart on an axis spanning 1e-5 around -19.9 stay distinct.
        assert_eq!(format_number(-19.889201, 1e-5), "-19.889201");
        assert_ne!(
            format_number(-19.889201, 1e-5),
            format_number(-19.889202, 1e-5)
        );
        assert_eq!(label(Scale::Log10, -3.0, 1.0), "0.001");
        assert_eq!(label(Scale::Log10, 6.0, 1.0), "1e6");
        assert_eq!(label(Scale::Log10, 2f64.log10(), 1.0), "2");
    }

    #[test]
    fn log_ticks_are_powers_of_ten() {
        let (bold, light) = ticks(Scale::Log10, -3.2, 2.1);
        assert_eq!(bold, vec![-3.0, -2.0, -1.0, 0.0, 1.0, 2.0]);
        assert!(light.len() > bold.len());
        let (bold, _) = ticks(Scale::Log10, -300.0, 300.0);
        assert!(bold.len() >= 2 && bold.len() <= 11, "{bold:?}");
        let (bold, _) = ticks(Scale::Log10, 0.1, 0.9);
        let labels: Vec<String> = bold.iter().map(|&v| label(Scale::Log10, v, 0.8)).collect();
        assert_eq!(labels, vec!["2", "5"]);
        let (bold, _) = ticks(Scale::Log10, 0.31, 0.33);
        assert!(bold.len() >= 2, "{bold:?}");
    }

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(axis_range(Extent::default(), 0.05), (0.0, 1.0));
        let mut e = Extent::default();
        e.add(0.0);
        assert_eq!(axis_range(e, 0.0), (-1.0, 1.0));
        let mut e = Extent::default();
        e.add(10.0);
        e.add(10.0 + 1e-14);
        let (lo, hi) = axis_range(e, 0.0);
        assert!((lo - 9.0).abs() < 1e-9 && (hi - 11.0).abs() < 1e-9);
        let mut e = Extent::default();
        e.add(-1e300);
        e.add(1e300);
        let (lo, hi) = axis_range(e, 0.05);
        assert!(lo.is_finite() && hi.is_finite() && (hi - lo).is_finite());
        assert_eq!(to_plot(Scale::Log10, 0.0), None);
        assert_eq!(to_plot(Scale::Log10, 100.0), Some(2.0));
        assert_eq!(to_plot(Scale::Linear, f64::INFINITY), None);
    }
}
