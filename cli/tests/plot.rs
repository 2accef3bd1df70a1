//! The PNG figure writers of `dualscore::plot`: files decode at the promised size, are drawn
//! (text, series colours), survive bad input, and image grids land pixel for pixel.

use dualscore::plot::{
    Axes, FIGURE_HEIGHT, FIGURE_WIDTH, PlotError, Scale, Series, histogram, image_grid, line_chart,
    scatter_chart,
};
use image::RgbImage;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The first two series colours (matplotlib's tab:blue and tab:orange).
const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];
/// The histogram bar fill.
const BAR: [u8; 3] = [158, 202, 225];

fn decode(path: &Path) -> RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .to_rgb8()
}

/// Decodes a chart and checks its size and that it is not blank.
fn chart(path: &Path) -> RgbImage {
    let img = decode(path);
    assert_eq!(img.dimensions(), (FIGURE_WIDTH, FIGURE_HEIGHT));
    assert_eq!(img.dimensions(), (800, 600));
    let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() >= 10, "only {} colours", colours.len());
    let non_white = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(non_white > 2000, "only {non_white} non-white pixels");
    img
}

/// Pixels of exactly this colour.
fn count(img: &RgbImage, colour: [u8; 3]) -> usize {
    img.pixels().filter(|p| p.0 == colour).count()
}

/// Dark pixels (text, axes) in the rectangle `[x0, x1) x [y0, y1)`.
fn dark(img: &RgbImage, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> usize {
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            if img.get_pixel(x, y).0.iter().all(|&c| c < 110) {
                n += 1;
            }
        }
    }
    n
}

/// Checks that the title, the x label and the rotated y label were set in type.
fn assert_text(img: &RgbImage) {
    assert!(dark(img, (250, 550), (0, 45)) > 100, "no title");
    assert!(dark(img, (250, 550), (560, 600)) > 50, "no x label");
    assert!(dark(img, (0, 45), (200, 400)) > 50, "no y label");
}

/// No note in the middle of the plotting area (only light grid lines and data there).
fn note_drawn(img: &RgbImage) -> bool {
    dark(img, (330, 520), (260, 330)) > 100
}

/// One way of drawing a figure at a path.
type Draw<'a> = Box<dyn Fn(&Path) -> Result<(), PlotError> + 'a>;

fn axes() -> Axes {
    Axes::new("A title", "the x label", "the y label")
}

fn gumbel_sample(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let u = (i as f64 + 0.5) / n as f64;
            -(-u.ln()).ln()
        })
        .collect()
}

fn gumbel_density() -> Series {
    let points = (0..200)
        .map(|i| {
            let x = -3.0 + 11.0 * i as f64 / 199.0;
            (x, (-(x + (-x).exp())).exp())
        })
        .collect();
    Series::new("Gumbel fit", points)
}

fn no_leftovers(dir: &Path, expected: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected, "temporary files left behind");
}

#[test]
fn line_chart_draws_lines_legend_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loss.png");
    let train = Series::new(
        "train",
        (0..100)
            .map(|i| (i as f64, 1.0 / (1.0 + i as f64)))
            .collect(),
    );
    let test = Series::new(
        "test",
        (0..100)
            .map(|i| (i as f64, 1.2 / (1.0 + i as f64)))
            .collect(),
    );
    line_chart(&path, &axes(), &[train, test]).unwrap();
    let img = chart(&path);
    assert_text(&img);
    assert!(count(&img, BLUE) > 300, "first line missing");
    assert!(count(&img, ORANGE) > 300, "second line missing");
    assert!(!note_drawn(&img));
    // Overwriting an existing figure works and leaves no temporary file.
    line_chart(
        &path,
        &axes(),
        &[Series::new("", vec![(0.0, 1.0), (1.0, 2.0)])],
    )
    .unwrap();
    let img = chart(&path);
    assert!(count(&img, BLUE) > 300);
    assert_eq!(count(&img, ORANGE), 0, "one unnamed series is blue only");
    no_leftovers(dir.path(), &["loss.png"]);
}

#[test]
fn scatter_chart_draws_each_series_in_its_colour() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logp_vs_dimension.png");
    let a = Series::new(
        "natural images",
        (0..50)
            .map(|i| (i as f64, -3.0 * i as f64 + (i as f64).sin()))
            .collect(),
    );
    let b = Series::new(
        "noise",
        (0..50)
            .map(|i| (i as f64 * 0.5, -100.0 + (i as f64).cos() * 20.0))
            .collect(),
    );
    scatter_chart(&path, &axes(), &[a, b]).unwrap();
    let img = chart(&path);
    assert_text(&img);
    assert!(count(&img, BLUE) > 500, "first series missing");
    assert!(count(&img, ORANGE) > 500, "second series missing");
}

#[test]
fn histogram_draws_bars_and_curves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logp_histogram.png");
    let values = gumbel_sample(2000);
    histogram(&path, &axes(), &values, 40, &[gumbel_density()]).unwrap();
    let img = chart(&path);
    assert_text(&img);
    assert!(count(&img, BAR) > 20_000, "bars missing");
    // Curves start at the second palette colour.
    assert!(count(&img, ORANGE) > 300, "curve missing");

    // The bars fill a region whose area matches the curve: both peak near the same height.
    // Bars reach at least 80% of the plot height (the top is 5% above the tallest thing).
    let bar_top = (0..FIGURE_HEIGHT)
        .find(|&y| (0..FIGURE_WIDTH).any(|x| img.get_pixel(x, y).0 == BAR))
        .unwrap();
    assert!(bar_top < 150, "tallest bar starts at row {bar_top}");

    let log_path = dir.path().join("log.png");
    let log_axes = axes().with_scales(Scale::Linear, Scale::Log10);
    histogram(&log_path, &log_axes, &values, 40, &[gumbel_density()]).unwrap();
    let img = chart(&log_path);
    assert!(count(&img, BAR) > 20_000);
}

#[test]
fn log_axes_drop_non_positive_values() {
    let dir = tempfile::tempdir().unwrap();
    let log = axes().with_scales(Scale::Log10, Scale::Log10);
    let points = vec![
        (0.0, 1.0),
        (-1.0, 2.0),
        (1.0, 0.0),
        (1.0, 1.0),
        (10.0, 0.1),
        (100.0, 0.01),
        (f64::NAN, 3.0),
        (1000.0, -5.0),
        (1e4, 1e-4),
    ];
    let path = dir.path().join("log_line.png");
    line_chart(&path, &log, &[Series::new("", points.clone())]).unwrap();
    let img = chart(&path);
    assert!(count(&img, BLUE) > 300);
    assert!(!note_drawn(&img));
    let path = dir.path().join("log_scatter.png");
    scatter_chart(&path, &log, &[Series::new("", points)]).unwrap();
    assert!(count(&chart(&path), BLUE) > 50);
    let path = dir.path().join("log_hist.png");
    histogram(&path, &log, &[-1.0, 0.0, 1.0, 10.0, 10.0, 100.0], 5, &[]).unwrap();
    assert!(count(&chart(&path), BAR) > 1000);

    // Nothing positive: axes and the note, no failure.
    let path = dir.path().join("nothing_positive.png");
    line_chart(
        &path,
        &log,
        &[Series::new("", vec![(-1.0, -1.0), (0.0, 0.0)])],
    )
    .unwrap();
    assert!(note_drawn(&chart(&path)));
}

#[test]
fn nothing_finite_draws_axes_and_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let nan = Series::new(
        "nan",
        vec![
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
            (f64::NEG_INFINITY, f64::NAN),
        ],
    );
    let cases: Vec<(&str, Draw<'_>)> = vec![
        (
            "line.png",
            Box::new(|p| line_chart(p, &axes(), std::slice::from_ref(&nan))),
        ),
        (
            "scatter.png",
            Box::new(|p| scatter_chart(p, &axes(), std::slice::from_ref(&nan))),
        ),
        ("line_empty.png", Box::new(|p| line_chart(p, &axes(), &[]))),
        (
            "scatter_empty.png",
            Box::new(|p| scatter_chart(p, &axes(), &[Series::default()])),
        ),
        (
            "hist.png",
            Box::new(|p| histogram(p, &axes(), &[f64::NAN; 7], 10, &[])),
        ),
        (
            "hist_empty.png",
            Box::new(|p| histogram(p, &axes(), &[], 10, std::slice::from_ref(&nan))),
        ),
    ];
    for (name, draw) in cases {
        let path = dir.path().join(name);
        draw(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let img = chart(&path);
        assert!(note_drawn(&img), "{name}: no note");
        assert_text(&img);
    }
    // Finite data has no note.
    let path = dir.path().join("finite.png");
    histogram(&path, &axes(), &gumbel_sample(100), 10, &[]).unwrap();
    assert!(!note_drawn(&chart(&path)));
}

#[test]
fn zero_ranges_and_extremes_are_padded() {
    let dir = tempfile::tempdir().unwrap();
    let flat = Series::new("", (0..10).map(|i| (i as f64, 5.0)).collect());
    let path = dir.path().join("flat.png");
    line_chart(&path, &axes(), &[flat]).unwrap();
    assert!(count(&chart(&path), BLUE) > 300, "flat line missing");

    let single = Series::new("", vec![(3.0, 3.0)]);
    let path = dir.path().join("single.png");
    line_chart(&path, &axes(), std::slice::from_ref(&single)).unwrap();
    assert!(count(&chart(&path), BLUE) > 10, "single point missing");
    let path = dir.path().join("single_scatter.png");
    scatter_chart(&path, &axes(), &[single]).unwrap();
    assert!(count(&chart(&path), BLUE) > 10);

    let path = dir.path().join("constant_hist.png");
    histogram(&path, &axes(), &[2.0; 50], 9, &[]).unwrap();
    assert!(count(&chart(&path), BAR) > 100);

    let extremes = [
        vec![(0.0, 1e300), (1.0, -1e300), (2.0, 1e308)],
        vec![(0.0, 1e-300), (1.0, 2e-300)],
        vec![(0.0, 1.0), (1.0, 1.0 + 1e-15)],
        vec![(1e12, 0.0), (1e12 + 1e-3, 1.0)],
    ];
    for (i, points) in extremes.into_iter().enumerate() {
        let path = dir.path().join(format!("extreme{i}.png"));
        line_chart(&path, &axes(), &[Series::new("", points.clone())]).unwrap();
        chart(&path);
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        histogram(&path, &axes(), &values, 1000, &[]).unwrap();
        chart(&path);
    }
}

#[test]
fn bad_histogram_bins_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.png");
    for bins in [0, usize::MAX] {
        let err = histogram(&path, &axes(), &[1.0, 2.0], bins, &[]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("bins"), "{message}");
    }
    assert!(!path.exists());
}

#[test]
fn missing_folder_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("no_such_folder").join("figure.png");
    let shown = path.display().to_string();
    let grid = vec![vec![0.5; 4]];
    let results = [
        line_chart(&path, &axes(), &[]),
        scatter_chart(&path, &axes(), &[]),
        histogram(&path, &axes(), &[1.0], 3, &[]),
        image_grid(&path, &grid, 1, 2, 2, 1, 1),
    ];
    for result in results {
        let err = result.unwrap_err();
        assert!(matches!(err, PlotError::MissingFolder { .. }), "{err:?}");
        assert!(err.to_string().contains(&shown), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert_eq!(err.path(), path);
    }
    assert!(!dir.path().join("no_such_folder").exists());
}

#[test]
fn image_grid_places_pixels_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.png");
    // Two 2x2 gray images, each pixel 3x3, 1-pixel gap: 2*2*3 + 1 = 13 wide, 6 high.
    let a = vec![0.0, 0.25, 0.5, 1.0];
    let b = vec![0.1, -1.0, 2.0, f64::NAN];
    image_grid(&path, &[a.clone(), b.clone()], 1, 2, 2, 2, 3).unwrap();
    let img = decode(&path);
    assert_eq!(img.dimensions(), (13, 6));
    let gray = |x, y| {
        let [r, g, bl] = img.get_pixel(x, y).0;
        assert!(r == g && g == bl, "({x}, {y}) is not gray");
        r
    };
    // Image a, pixel (row, column) -> block [3c, 3c+3) x [3r, 3r+3).
    for dy in 0..3 {
        for dx in 0..3 {
            assert_eq!(gray(dx, dy), 0);
            assert_eq!(gray(3 + dx, dy), 64); // 0.25 * 255 = 63.75
            assert_eq!(gray(dx, 3 + dy), 128); // 0.5 * 255 = 127.5
            assert_eq!(gray(3 + dx, 3 + dy), 255);
            // Image b starts after the gap at x = 6.
            assert_eq!(gray(7 + dx, dy), 26); // 0.1 * 255 = 25.5
            assert_eq!(gray(10 + dx, dy), 0); // clamped
            assert_eq!(gray(7 + dx, 3 + dy), 255); // clamped
            assert_eq!(gray(10 + dx, 3 + dy), 0); // NaN
        }
    }
    for y in 0..6 {
        assert_eq!(gray(6, y), 255, "gap column");
    }

    // Three images in two columns: a second row, a gap row, an empty white cell.
    image_grid(&path, &[a.clone(), b, a], 1, 2, 2, 2, 3).unwrap();
    let img = decode(&path);
    assert_eq!(img.dimensions(), (13, 13));
    for x in 0..13 {
        assert_eq!(img.get_pixel(x, 6).0, [255; 3], "gap row at x = {x}");
    }
    assert_eq!(img.get_pixel(0, 7).0, [0; 3]);
    assert_eq!(img.get_pixel(3, 7).0, [64; 3]);
    for y in 7..13 {
        for x in 7..13 {
            assert_eq!(img.get_pixel(x, y).0, [255; 3], "empty cell at ({x}, {y})");
        }
    }

    // Fewer images than columns: the grid is only as wide as the images.
    image_grid(&path, &[vec![0.5; 4]], 1, 2, 2, 8, 1).unwrap();
    assert_eq!(decode(&path).dimensions(), (2, 2));
    no_leftovers(dir.path(), &["grid.png"]);
}

#[test]
fn image_grid_reads_channel_major_colour() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb.png");
    // One 1x2 RGB image in (C, H, W) order: left pixel red, right pixel (0, 1, 0.5).
    let image = vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.5];
    image_grid(&path, &[image.clone(), image], 3, 1, 2, 1, 2).unwrap();
    let img = decode(&path);
    // One column, two rows: 4 wide, 2 + 1 + 2 = 5 high.
    assert_eq!(img.dimensions(), (4, 5));
    for y in [0, 1, 3, 4] {
        assert_eq!(img.get_pixel(0, y).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(1, y).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(2, y).0, [0, 255, 128]);
        assert_eq!(img.get_pixel(3, y).0, [0, 255, 128]);
    }
    for x in 0..4 {
        assert_eq!(img.get_pixel(x, 2).0, [255, 255, 255]);
    }
}

#[test]
fn image_grid_rejects_bad_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.png");
    let shown = path.display().to_string();
    let four = vec![0.5; 4];
    let cases: Vec<(Result<(), PlotError>, &str)> = vec![
        (
            image_grid(&path, &[four.clone(), vec![0.5; 3]], 1, 2, 2, 2, 1),
            "image 1 has 3 values",
        ),
        (
            image_grid(&path, std::slice::from_ref(&four), 2, 2, 1, 1, 1),
            "channels",
        ),
        (image_grid(&path, &[], 1, 2, 2, 1, 1), "no images"),
        (
            image_grid(&path, &[vec![0.5; 5]], 1, 2, 2, 1, 1),
            "image 0 has 5 values",
        ),
        (
            image_grid(&path, std::slice::from_ref(&four), 1, 2, 2, 0, 1),
            "columns",
        ),
        (
            image_grid(&path, std::slice::from_ref(&four), 1, 2, 2, 1, 0),
            "scale",
        ),
        (
            image_grid(&path, std::slice::from_ref(&four), 1, 2, 2, 1, usize::MAX),
            "too large",
        ),
        (image_grid(&path, &[four], 1, 2, 2, 1, 1 << 20), "too large"),
    ];
    for (result, expected) in cases {
        let message = result.unwrap_err().to_string();
        assert!(message.contains(&shown), "{message}");
        assert!(message.contains(expected), "{message}");
    }
    assert!(!path.exists());
}
