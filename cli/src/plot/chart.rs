//! Line charts, scatter charts and histograms, drawn with plotters into an RGB buffer.

use super::ticks::{self, Axis, Extent, to_plot};
use super::{Axes, FIGURE_HEIGHT, FIGURE_WIDTH, PlotError, Scale, Series, font, hist, output};
use image::ExtendedColorType;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

type Coord = Cartesian2d<Axis, Axis>;
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Coord>;
type DrawError = DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;
type DrawResult = Result<(), DrawError>;
/// A series in plot coordinates, split where points were skipped.
type Runs = Vec<Vec<(f64, f64)>>;

/// The colours of successive series (matplotlib's "tab10").
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
/// Histogram bars.
const BAR_FILL: RGBColor = RGBColor(158, 202, 225);
const BAR_EDGE: RGBColor = RGBColor(49, 130, 189);
/// At most this many bars get an outline (more would merge into a solid block).
const MAX_OUTLINED_BARS: usize = 200;

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn legend_name(series: &Series, i: usize) -> String {
    if series.name.is_empty() {
        format!("series {}", i + 1)
    } else {
        series.name.clone()
    }
}

fn wants_legend(series: &[Series]) -> bool {
    series.len() > 1 || series.iter().any(|s| !s.name.is_empty())
}

/// The drawable points of `points` in plot coordinates, split where a point was skipped.
fn runs(axes: &Axes, points: &[(f64, f64)]) -> Runs {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        match (to_plot(axes.x_scale, x), to_plot(axes.y_scale, y)) {
            (Some(x), Some(y)) => current.push((x, y)),
            _ if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            _ => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

fn add_runs(x: &mut Extent, y: &mut Extent, runs: &[Runs]) {
    for &(px, py) in runs.iter().flatten().flatten() {
        x.add(px);
        y.add(py);
    }
}

/// The note drawn when nothing is left to plot.
fn empty_note(axes: &Axes) -> &'static str {
    if axes.x_scale == Scale::Log10 || axes.y_scale == Scale::Log10 {
        "no finite values (log axes drop values <= 0)"
    } else {
        "no finite values"
    }
}

/// What every chart shares: axes, their ranges in plot coordinates, a legend, a note.
struct Frame<'s> {
    axes: &'s Axes,
    x: (f64, f64),
    y: (f64, f64),
    legend: bool,
    note: Option<&'static str>,
}

/// Draws the frame, then `content` into it, and writes the PNG.
fn render<F>(path: &Path, frame: &Frame<'_>, content: F) -> Result<(), PlotError>
where
    F: FnOnce(&mut Chart<'_, '_>) -> DrawResult,
{
    // Fail on a missing folder before spending time drawing.
    output::temporary_path(path)?;
    if !font::ensure_registered() {
        return Err(PlotError::Font {
            path: path.to_path_buf(),
        });
    }
    let (width, height) = (FIGURE_WIDTH, FIGURE_HEIGHT);
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    draw(&mut pixels, frame, content).map_err(|e| PlotError::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    output::write_png(path, &pixels, width, height, ExtendedColorType::Rgb8)
}

fn draw<F>(pixels: &mut [u8], frame: &Frame<'_>, content: F) -> DrawResult
where
    F: FnOnce(&mut Chart<'_, '_>) -> DrawResult,
{
    let family = font::FAMILY;
    let axes = frame.axes;
    let root =
        BitMapBackend::with_buffer(pixels, (FIGURE_WIDTH, FIGURE_HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;

    let mut builder = ChartBuilder::on(&root);
    builder
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(95);
    if !axes.title.is_empty() {
        builder.caption(&axes.title, (family, 26));
    }
    let mut chart = builder.build_cartesian_2d(
        Axis::new(axes.x_scale, frame.x),
        Axis::new(axes.y_scale, frame.y),
    )?;

    let (x_scale, x_span) = (axes.x_scale, frame.x.1 - frame.x.0);
    let (y_scale, y_span) = (axes.y_scale, frame.y.1 - frame.y.0);
    let x_format = move |v: &f64| ticks::label(x_scale, *v, x_span);
    let y_format = move |v: &f64| ticks::label(y_scale, *v, y_span);
    chart
        .configure_mesh()
        .x_desc(axes.x_label.as_str())
        .y_desc(axes.y_label.as_str())
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .label_style((family, 15))
        .axis_desc_style((family, 18))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(240, 240, 240))
        .axis_style(BLACK)
        .draw()?;

    content(&mut chart)?;

    if frame.legend {
        chart
            .configure_series_labels()
            .label_font((family, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(120, 120, 120))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    if let Some(note) = frame.note {
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let centre = ((xs.start + xs.end) / 2, (ys.start + ys.end) / 2);
        let style = TextStyle::from((family, 22).into_font())
            .color(&RGBColor(80, 80, 80))
            .pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(note, centre, style))?;
    }
    root.present()
}

pub(super) fn line_chart(path: &Path, axes: &Axes, series: &[Series]) -> Result<(), PlotError> {
    line_chart_with_references(path, axes, series, &[])
}

pub(super) fn line_chart_with_references(
    path: &Path,
    axes: &Axes,
    series: &[Series],
    references: &[Series],
) -> Result<(), PlotError> {
    let plotted: Vec<Runs> = series.iter().map(|s| runs(axes, &s.points)).collect();
    let dashed: Vec<Runs> = references.iter().map(|s| runs(axes, &s.points)).collect();
    let all: Vec<Runs> = plotted.iter().chain(&dashed).cloned().collect();
    let legend = wants_legend(series) || references.iter().any(|r| !r.name.is_empty());
    let frame = points_frame(axes, &all, legend);
    render(path, &frame, |chart| {
        for (i, (s, runs)) in series.iter().zip(&plotted).enumerate() {
            let style = colour(i).stroke_width(2);
            for run in runs {
                if let [point] = run.as_slice() {
                    chart.draw_series(std::iter::once(Circle::new(*point, 3, style.filled())))?;
                } else {
                    chart.draw_series(LineSeries::new(run.iter().copied(), style))?;
                }
            }
            if frame.legend {
                chart
                    .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                    .label(legend_name(s, i))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
        }
        for (i, (r, runs)) in references.iter().zip(&dashed).enumerate() {
            let style = colour(i).stroke_width(2);
            for run in runs {
                if let [point] = run.as_slice() {
                    chart.draw_series(std::iter::once(Circle::new(*point, 3, style)))?;
                } else {
                    chart.draw_series(DashedLineSeries::new(run.iter().copied(), 8, 6, style))?;
                }
            }
            if frame.legend && !r.name.is_empty() {
                chart
                    .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                    .label(r.name.clone())
                    .legend(move |(x, y)| {
                        plotters::element::DashedPathElement::new(
                            vec![(x, y), (x + 20, y)],
                            5,
                            3,
                            style,
                        )
                    });
            }
        }
        Ok(())
    })
}

pub(super) fn scatter_chart(path: &Path, axes: &Axes, series: &[Series]) -> Result<(), PlotError> {
    let plotted: Vec<Runs> = series.iter().map(|s| runs(axes, &s.points)).collect();
    let frame = points_frame(axes, &plotted, wants_legend(series));
    render(path, &frame, |chart| {
        for (i, (s, runs)) in series.iter().zip(&plotted).enumerate() {
            let fill = colour(i).filled();
            let points = runs.iter().flatten();
            let annotation = chart.draw_series(points.map(|&point| Circle::new(point, 3, fill)))?;
            if frame.legend {
                annotation
                    .label(legend_name(s, i))
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, fill));
            }
        }
        Ok(())
    })
}

/// The frame of a line or scatter chart: a small margin around all drawable points.
fn points_frame<'s>(axes: &'s Axes, plotted: &[Runs], legend: bool) -> Frame<'s> {
    let (mut x, mut y) = (Extent::default(), Extent::default());
    add_runs(&mut x, &mut y, plotted);
    let empty = x.get().is_none();
    Frame {
        axes,
        x: ticks::axis_range(x, 0.02),
        y: ticks::axis_range(y, 0.05),
        legend,
        note: empty.then(|| empty_note(axes)),
    }
}

pub(super) fn histogram(
    path: &Path,
    axes: &Axes,
    values: &[f64],
    bins: usize,
    curves: &[Series],
) -> Result<(), PlotError> {
    if bins == 0 || bins > hist::MAX_BINS {
        return Err(PlotError::invalid(
            path,
            format!(
                "a histogram needs between 1 and {} bins, not {bins}",
                hist::MAX_BINS
            ),
        ));
    }
    let finite: Vec<f64> = values
        .iter()
        .filter_map(|&v| to_plot(axes.x_scale, v))
        .collect();
    let binned = hist::bin(&finite, bins);
    let plotted: Vec<Runs> = curves.iter().map(|s| runs(axes, &s.points)).collect();

    // Bars as (left, right, top) in plot coordinates; empty bins vanish on a log y axis.
    let bars: Vec<(f64, f64, f64)> = binned
        .iter()
        .flat_map(|b| {
            b.density.iter().enumerate().filter_map(|(i, &d)| {
                let (left, right) = b.edges(i);
                to_plot(axes.y_scale, d).map(|top| (left, right, top))
            })
        })
        .collect();

    let (mut x, mut y) = (Extent::default(), Extent::default());
    if let Some(b) = &binned {
        x.add(b.edges(0).0);
        x.add(b.edges(bins - 1).1);
    }
    if axes.y_scale == Scale::Linear {
        y.add(0.0);
    }
    bars.iter().for_each(|&(_, _, top)| y.add(top));
    add_runs(&mut x, &mut y, &plotted);
    let y_range = match (axes.y_scale, y.get()) {
        // Bars stand on the axis: no margin below a zero baseline.
        (Scale::Linear, Some((0.0, hi))) if hi > 0.0 => (0.0, hi * 1.05),
        _ => ticks::axis_range(y, 0.05),
    };
    let bottom = match axes.y_scale {
        Scale::Linear => 0.0,
        Scale::Log10 => y_range.0,
    };

    let legend = curves.iter().any(|s| !s.name.is_empty());
    let frame = Frame {
        axes,
        x: ticks::axis_range(x, 0.02),
        y: y_range,
        legend,
        note: binned.is_none().then(|| empty_note(axes)),
    };
    render(path, &frame, |chart| {
        let outlined = bars.len() <= MAX_OUTLINED_BARS;
        let annotation = chart.draw_series(bars.iter().map(|&(left, right, top)| {
            Rectangle::new([(left, bottom), (right, top)], BAR_FILL.filled())
        }))?;
        if legend {
            annotation
                .label(format!("histogram (n = {})", finite.len()))
                .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], BAR_FILL.filled()));
        }
        if outlined {
            chart.draw_series(bars.iter().map(|&(left, right, top)| {
                Rectangle::new([(left, bottom), (right, top)], BAR_EDGE.stroke_width(1))
            }))?;
        }
        for (i, (s, runs)) in curves.iter().zip(&plotted).enumerate() {
            // Curves take the palette from its second colour, which contrasts with the bars.
            let style = colour(i + 1).stroke_width(2);
            for run in runs {
                if let [point] = run.as_slice() {
                    chart.draw_series(std::iter::once(Circle::new(*point, 3, style.filled())))?;
                } else {
                    chart.draw_series(LineSeries::new(run.iter().copied(), style))?;
                }
            }
            if legend {
                chart
                    .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                    .label(legend_name(s, i))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
        }
        Ok(())
    })
}
