use crate::tests::{buf, cpu, data, reference_close};
use dualscore_core::backend::reference::Reference;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams};
use dualscore_core::{Backend, Shape};

type Case = ([usize; 4], [usize; 4], [usize; 2], [usize; 2], [usize; 2]);
/// (input, weight, stride, padding, output padding, dilation)
type TCase = ([usize; 4], [usize; 4], usize, usize, usize, usize);

fn conv_cases() -> Vec<Case> {
    // (input, weight, stride, padding, dilation)
    vec![
        ([1, 1, 3, 3], [1, 1, 2, 2], [1, 1], [0, 0], [1, 1]),
        ([2, 3, 9, 7], [4, 3, 3, 3], [1, 1], [1, 1], [1, 1]),
        ([2, 3, 9, 7], [4, 3, 3, 2], [2, 1], [1, 2], [1, 2]),
        ([1, 2, 12, 12], [3, 2, 2, 2], [2, 2], [0, 0], [1, 1]),
        ([3, 5, 5, 6], [2, 5, 5, 1], [3, 2], [2, 0], [1, 3]),
        ([9, 4, 3, 3], [5, 4, 1, 1], [1, 1], [0, 0], [1, 1]),
        ([2, 40, 20, 20], [70, 40, 3, 3], [1, 1], [1, 1], [1, 1]),
        // "Same" convolutions: dilated, and tiles that do not start at a row.
        ([2, 3, 10, 9], [4, 3, 3, 3], [1, 1], [2, 2], [2, 2]),
        ([2, 3, 10, 9], [4, 3, 5, 1], [1, 1], [2, 0], [1, 1]),
        ([1, 64, 30, 30], [8, 64, 3, 3], [1, 1], [1, 1], [1, 1]),
        // Small images, several per task.
        ([16, 8, 4, 4], [8, 8, 3, 3], [1, 1], [1, 1], [1, 1]),
        ([17, 8, 5, 3], [8, 8, 3, 3], [1, 1], [2, 1], [2, 1]),
        // Weight-gradient shapes: the kernel is as large as the image.
        ([6, 8, 16, 16], [5, 8, 16, 16], [1, 1], [1, 1], [1, 1]),
        ([6, 8, 16, 16], [5, 8, 8, 8], [1, 1], [0, 0], [2, 2]),
        ([3, 20, 11, 11], [4, 20, 11, 11], [2, 1], [1, 1], [1, 1]),
        ([3, 20, 11, 11], [4, 20, 11, 11], [1, 2], [1, 1], [1, 1]),
        ([5, 30, 4, 4], [6, 30, 4, 4], [1, 1], [1, 1], [1, 1]),
        // Weight gradients of strided and dilated convolutions: phases of the input.
        ([4, 20, 16, 16], [5, 20, 8, 8], [1, 1], [0, 0], [2, 2]),
        ([4, 24, 17, 15], [5, 24, 8, 7], [1, 1], [1, 0], [2, 2]),
        ([3, 40, 13, 14], [4, 40, 6, 5], [3, 2], [1, 2], [2, 3]),
        ([3, 40, 13, 14], [4, 40, 6, 12], [2, 1], [1, 1], [2, 1]),
        // Output rows of whole 8-pixel vectors (the rows path in f32): channel counts that
        // leave part of a register tile, one input or output channel, an odd number of pixel
        // groups, padding wider than the kernel's reach, and unequal kernel sides.
        ([2, 3, 16, 16], [5, 3, 3, 3], [1, 1], [1, 1], [1, 1]),
        ([3, 16, 8, 8], [32, 16, 3, 3], [1, 1], [1, 1], [1, 1]),
        ([2, 1, 16, 16], [16, 1, 3, 3], [1, 1], [1, 1], [1, 1]),
        ([2, 16, 16, 16], [1, 16, 3, 3], [1, 1], [1, 1], [1, 1]),
        // One output channel (tiles of one channel by 4 groups): 5 groups, the last tile
        // repeats its last group.
        ([2, 3, 5, 8], [1, 3, 3, 3], [1, 1], [1, 1], [1, 1]),
        ([2, 4, 9, 10], [3, 4, 3, 3], [1, 1], [0, 0], [1, 1]),
        ([1, 5, 7, 24], [6, 5, 5, 5], [1, 1], [2, 2], [1, 1]),
        ([2, 3, 6, 16], [4, 3, 3, 1], [1, 1], [2, 0], [1, 1]),
    ]
}

#[test]
fn conv2d_matches_the_reference() {
    let cpu = cpu(2);
    for (xs, ws, stride, padding, dilation) in conv_cases() {
        let (xs, ws) = (Shape::new(xs), Shape::new(ws));
        let p = Conv2dParams {
            stride,
            padding,
            dilation,
        };
        let x: Vec<f64> = data(xs.numel(), 1);
        let w: Vec<f64> = data(ws.numel(), 2);
        let got = cpu.conv2d(&buf(&x), &xs, &buf(&w), &ws, &p).unwrap();
        let want = Reference.conv2d(&x, &xs, &w, &ws, &p).unwrap();
        reference_close(&format!("conv2d {xs} {ws} {p:?}"), &got, &want, 1e-12);
        let (x32, w32): (Vec<f32>, Vec<f32>) = (data(xs.numel(), 1), data(ws.numel(), 2));
        let got = cpu.conv2d(&buf(&x32), &xs, &buf(&w32), &ws, &p).unwrap();
        let want = Reference.conv2d(&x32, &xs, &w32, &ws, &p).unwrap();
        reference_close(&format!("conv2d f32 {xs} {ws} {p:?}"), &got, &want, 1e-5);
    }
}

#[test]
fn conv_transpose2d_matches_the_reference() {
    let cpu = cpu(3);
    // (input, weight [Cin, Cout, KH, KW], stride, padding, output padding, dilation)
    let cases: Vec<TCase> = vec![
        ([1, 1, 1, 1], [1, 1, 2, 2], 1, 0, 0, 1),
        ([2, 3, 5, 4], [3, 2, 3, 3], 1, 1, 0, 1),
        ([2, 3, 5, 4], [3, 2, 3, 3], 2, 1, 1, 1),
        ([2, 3, 5, 4], [3, 2, 2, 2], 2, 0, 0, 1),
        ([1, 4, 6, 6], [4, 5, 3, 3], 3, 2, 2, 2),
        ([1, 4, 6, 6], [4, 5, 3, 3], 1, 3, 1, 2),
        ([2, 30, 10, 10], [30, 20, 3, 3], 1, 1, 0, 1),
        ([2, 30, 10, 10], [30, 20, 4, 4], 2, 1, 0, 1),
        // Stride 1 with output rows of whole 8-pixel vectors (the rows path in f32), one of
        // them cropped (padding beyond the kernel's reach).
        ([2, 30, 16, 16], [30, 20, 3, 3], 1, 1, 0, 1),
        ([2, 4, 12, 12], [4, 3, 3, 3], 1, 3, 0, 1),
    ];
    for (xs, ws, s, pad, op, d) in cases {
        let (xs, ws) = (Shape::new(xs), Shape::new(ws));
        let p = ConvTranspose2dParams::new(s, pad, op, d);
        let x: Vec<f64> = data(xs.numel(), 3);
        let w: Vec<f64> = data(ws.numel(), 4);
        let got = cpu
            .conv_transpose2d(&buf(&x), &xs, &buf(&w), &ws, &p)
            .unwrap();
        let want = Reference.conv_transpose2d(&x, &xs, &w, &ws, &p).unwrap();
        reference_close(
            &format!("conv_transpose2d {xs} {ws} {p:?}"),
            &got,
            &want,
            1e-12,
        );
        let (x32, w32): (Vec<f32>, Vec<f32>) = (data(xs.numel(), 3), data(ws.numel(), 4));
        let got = cpu
            .conv_transpose2d(&buf(&x32), &xs, &buf(&w32), &ws, &p)
            .unwrap();
        let want = Reference
            .conv_transpose2d(&x32, &xs, &w32, &ws, &p)
            .unwrap();
        reference_close(
            &format!("conv_transpose2d f32 {xs} {ws} {p:?}"),
            &got,
            &want,
            1e-5,
        );
    }
}

#[test]
fn non_finite_values_propagate_like_the_reference() {
    let cpu = cpu(2);
    let (xs, ws) = (Shape::new([1, 2, 6, 6]), Shape::new([3, 2, 3, 3]));
    let mut x: Vec<f64> = data(xs.numel(), 5);
    let mut w: Vec<f64> = data(ws.numel(), 6);
    x[7] = f64::NAN;
    w[4] = f64::INFINITY;
    let p = Conv2dParams::new(1, 1, 1);
    let got = cpu.conv2d(&buf(&x), &xs, &buf(&w), &ws, &p).unwrap();
    let want = Reference.conv2d(&x, &xs, &w, &ws, &p).unwrap();
    reference_close("conv2d nan", &got, &want, 1e-12);
    let pt = ConvTranspose2dParams::new(2, 1, 1, 1);
    let (ts, tw) = (Shape::new([1, 3, 4, 4]), Shape::new([3, 2, 3, 3]));
    let mut t: Vec<f64> = data(ts.numel(), 7);
    t[3] = f64::NEG_INFINITY;
    let tw_data: Vec<f64> = data(tw.numel(), 8);
    let got = cpu
        .conv_transpose2d(&buf(&t), &ts, &buf(&tw_data), &tw, &pt)
        .unwrap();
    let want = Reference
        .conv_transpose2d(&t, &ts, &tw_data, &tw, &pt)
        .unwrap();
    reference_close("conv_transpose2d inf", &got, &want, 1e-12);
}

#[test]
fn bad_and_empty_shapes() {
    let cpu = cpu(1);
    let x = buf(&[1.0f32; 16]);
    let s = Shape::new([1, 1, 4, 4]);
    let p = Conv2dParams::default();
    assert!(
        cpu.conv2d(&x, &s, &x, &Shape::new([1, 2, 2, 2]), &p)
            .is_err()
    );
    assert!(
        cpu.conv2d(&x, &s, &x, &Shape::new([1, 1, 5, 5]), &p)
            .is_err()
    );
    assert!(cpu.conv2d(&x, &s, &buf(&x[..15]), &s, &p).is_err());
    let p0 = Conv2dParams::new(0, 0, 1);
    assert!(cpu.conv2d(&x, &s, &x, &s, &p0).is_err());
    let huge = Conv2dParams::new(1, usize::MAX / 2, 1);
    assert!(cpu.conv2d(&x, &s, &x, &s, &huge).is_err());
    // Zero images, zero channels.
    let e = buf::<f32>(&[]);
    let out = cpu
        .conv2d(&e, &Shape::new([0, 1, 4, 4]), &x, &s, &p)
        .unwrap();
    assert!(out.is_empty());
    let out = cpu
        .conv2d(
            &e,
            &Shape::new([2, 0, 4, 4]),
            &e,
            &Shape::new([3, 0, 2, 2]),
            &p,
        )
        .unwrap();
    assert_eq!(out[..], [0.0; 2 * 3 * 3 * 3]);
    let pt = ConvTranspose2dParams::new(1, 0, 1, 1);
    assert!(cpu.conv_transpose2d(&x, &s, &x, &s, &pt).is_err());
}

#[test]
fn long_kernels_take_the_long_k_path() {
    // The weight-gradient shapes of `conv_cases` (the last four and the three before them).
    let cases = conv_cases();
    let long: Vec<&Case> = cases.iter().filter(|c| c.1[2] >= 5).collect();
    let mut taken = 0;
    for &&(xs, ws, stride, padding, dilation) in &long {
        let p = Conv2dParams {
            stride,
            padding,
            dilation,
        };
        let out = p.output_shape(&Shape::new(xs), &Shape::new(ws)).unwrap();
        let g = super::Geom {
            n: xs[0],
            c: xs[1],
            h: xs[2],
            w: xs[3],
            o: ws[0],
            kh: ws[2],
            kw: ws[3],
            ho: out.dims()[2],
            wo: out.dims()[3],
            stride,
            dil: dilation,
            pad: [padding[0] as isize, padding[1] as isize],
        };
        taken += usize::from(super::long_k::suits(&g));
    }
    assert!(
        taken >= 6,
        "only {taken} of {} cases take the long-K path",
        long.len()
    );
}
