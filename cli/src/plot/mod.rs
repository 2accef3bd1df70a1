//! PNG figures for reports: line charts, scatter charts, histograms and grids of images.
//!
//! Charts are drawn with `plotters` into an in-memory RGB buffer of [`FIGURE_WIDTH`] x
//! [`FIGURE_HEIGHT`] pixels on a white background and encoded with the `image` crate, so no
//! system library (freetype, fontconfig) is involved. Text is set in DejaVu Sans, embedded in
//! the binary (`cli/assets/fonts/`, licence in `LICENSE-DejaVu.txt`), so a figure comes out
//! the same on every machine.
//!
//! Bad input never panics. Non-finite points are skipped (a line is broken where they were),
//! [`Scale::Log10`] axes drop values `<= 0`, values whose magnitude exceeds `1e300` on a linear
//! axis are skipped as well (they cannot be placed on a finite axis), an axis whose values all
//! coincide is padded around them, and a chart with nothing left to draw still gets its axes
//! and title, with the note "no finite values" in the middle. Problems that leave nothing
//! sensible to draw (zero bins, images of the wrong length, a missing output folder) are a
//! [`PlotError`] naming the output file.
//!
//! Every file is written atomically: the PNG is encoded into `.<name>.tmp` in the same folder
//! and then renamed over `<name>`.

mod chart;
mod error;
mod font;
mod grid;
mod hist;
mod output;
mod ticks;

pub use error::PlotError;

use std::path::Path;

/// Width in pixels of every chart written by [`line_chart`], [`scatter_chart`] and [`histogram`].
pub const FIGURE_WIDTH: u32 = 800;
/// Height in pixels of every chart written by [`line_chart`], [`scatter_chart`] and [`histogram`].
pub const FIGURE_HEIGHT: u32 = 600;

/// One named set of `(x, y)` points: a line, a set of scatter points or an overlaid curve.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The name shown in the legend; may be empty.
    pub name: String,
    /// The points, in drawing order. Non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series with the given legend name and points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// How values are placed along an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Evenly spaced values.
    #[default]
    Linear,
    /// Evenly spaced powers of ten; values `<= 0` are dropped.
    Log10,
}

/// The title, axis labels and axis scales of a chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Axes {
    /// The title above the chart; may be empty.
    pub title: String,
    /// The label under the horizontal axis.
    pub x_label: String,
    /// The label beside the vertical axis.
    pub y_label: String,
    /// The scale of the horizontal axis.
    pub x_scale: Scale,
    /// The scale of the vertical axis.
    pub y_scale: Scale,
}

impl Axes {
    /// Axes with the given title and labels, both scales [`Scale::Linear`].
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
        }
    }

    /// The same axes with the given scales.
    pub fn with_scales(mut self, x_scale: Scale, y_scale: Scale) -> Self {
        self.x_scale = x_scale;
        self.y_scale = y_scale;
        self
    }
}

/// Writes a PNG line chart of `series` to `path`, one colour per series.
///
/// A line is broken where a point is skipped (non-finite, or `<= 0` on a log axis); a point
/// with no drawable neighbour is drawn as a dot. There is a legend when there is more than
/// one series or when a series has a name (unnamed series in a legend are called
/// "series 1", "series 2", ...).
pub fn line_chart(path: &Path, axes: &Axes, series: &[Series]) -> Result<(), PlotError> {
    chart::line_chart(path, axes, series)
}

/// Writes a PNG line chart of `series` as [`line_chart`] does, with `references` drawn over it
/// as dashed lines: reference `i` in the colour of series `i` (for example the optimum each
/// series should reach). A reference with a name gets its own legend entry.
pub fn line_chart_with_references(
    path: &Path,
    axes: &Axes,
    series: &[Series],
    references: &[Series],
) -> Result<(), PlotError> {
    chart::line_chart_with_references(path, axes, series, references)
}

/// Writes a PNG scatter chart of `series` to `path`: points only, one colour per series.
///
/// The legend follows the same rule as [`line_chart`].
pub fn scatter_chart(path: &Path, axes: &Axes, series: &[Series]) -> Result<(), PlotError> {
    chart::scatter_chart(path, axes, series)
}

/// Writes a PNG histogram of `values` to `path`, normalised to a probability density, with
/// `curves` (for example a fitted density) drawn over it as lines.
///
/// The `bins` bins have equal widths and span the finite values (those `> 0` when the x axis
/// is [`Scale::Log10`]); the density has area 1 in the coordinates drawn, so on a log x axis
/// the bins are equal in `log10(x)` and the density is per unit of `log10(x)`. On a log y axis
/// empty bins are not drawn. `bins` must be between 1 and 1,000,000.
pub fn histogram(
    path: &Path,
    axes: &Axes,
    values: &[f64],
    bins: usize,
    curves: &[Series],
) -> Result<(), PlotError> {
    chart::histogram(path, axes, values, bins, curves)
}

/// Writes a PNG grid of images to `path`.
///
/// Each image holds `channels * height * width` values in channel-major `(C, H, W)` order;
/// `channels` is 1 (gray) or 3 (RGB). Values are clamped to `[0, 1]` and stored as
/// `round(255 * v)`; NaN is drawn as 0. The images fill rows of `columns` (fewer when there
/// are fewer images) left to right, each pixel drawn as a `scale` x `scale` block, with a
/// 1-pixel white gap between neighbouring images and no outer border; empty cells of the last
/// row are white. A gray grid is written as an 8-bit gray PNG, a color grid as 8-bit RGB.
pub fn image_grid(
    path: &Path,
    images: &[Vec<f64>],
    channels: usize,
    height: usize,
    width: usize,
    columns: usize,
    scale: usize,
) -> Result<(), PlotError> {
    grid::image_grid(path, images, channels, height, width, columns, scale)
}
