//! Histogram binning, normalised to a probability density.

use super::ticks::{Extent, widen};

/// The most bins [`super::histogram`] accepts.
pub(super) const MAX_BINS: usize = 1_000_000;

/// Equal-width bins over the values, each with the density `count / (n * width)`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Binned {
    /// The left edge of the first bin.
    pub(super) start: f64,
    /// The width of every bin.
    pub(super) width: f64,
    /// The density of each bin; they sum to `1 / width`.
    pub(super) density: Vec<f64>,
}

impl Binned {
    /// The left and right edges of bin `i`.
    pub(super) fn edges(&self, i: usize) -> (f64, f64) {
        let left = self.start + self.width * i as f64;
        (left, left + self.width)
    }
}

/// Bins `values` (all finite; `1 <= bins <= MAX_BINS`) over their range, widened when the
/// values coincide; `None` when there are no values.
pub(super) fn bin(values: &[f64], bins: usize) -> Option<Binned> {
    let mut extent = Extent::default();
    values.iter().for_each(|&v| extent.add(v));
    let (lo, hi) = widen(extent.get()?.0, extent.get()?.1);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values {
        let index = ((v - lo) / width).floor();
        // NaN cannot occur (finite values, positive width); `as` saturates below at 0.
        counts[(index as usize).min(bins - 1)] += 1;
    }
    let scale = 1.0 / (values.len() as f64 * width);
    Some(Binned {
        start: lo,
        width,
        density: counts.iter().map(|&c| c as f64 * scale).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_is_one() {
        let values: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
        let binned = bin(&values, 17).unwrap();
        let area: f64 = binned.density.iter().map(|d| d * binned.width).sum();
        assert!((area - 1.0).abs() < 1e-12, "{area}");
        assert_eq!(binned.density.len(), 17);
    }

    #[test]
    fn edges_and_counts() {
        let binned = bin(&[0.0, 1.0, 1.0, 4.0], 4).unwrap();
        assert_eq!(binned.start, 0.0);
        assert_eq!(binned.width, 1.0);
        // The maximum lands in the last bin.
        assert_eq!(binned.density, vec![0.25, 0.5, 0.0, 0.25]);
        assert_eq!(binned.edges(3), (3.0, 4.0));
    }

    #[test]
    fn coinciding_values_are_widened() {
        let binned = bin(&[2.0; 5], 3).unwrap();
        assert!(binned.width > 0.0);
        assert!((binned.density[1] * binned.width - 1.0).abs() < 1e-12);
        assert!(bin(&[], 3).is_none());
        let tiny = bin(&[1e-310, 3e-310], 1_000_000).unwrap();
        assert!(tiny.width > 0.0 && tiny.density.iter().all(|d| d.is_finite()));
    }
}
