//! 2-D convolutions, their weight gradients and transposed convolutions in NCHW.

use crate::harness::{Input, check, dev_run, oracle_run};
use crate::strategies::{ConvCase, ConvTransposeCase, conv_case, conv_transpose_case, seeded};
use crate::tolerance::{all_integers, assert_close, sum_bounds_exact_ints};
use dualscore_core::{Backend, Float, Shape};
use proptest::test_runner::{TestCaseError, TestCaseResult};

/// Runs one conv2d case on the backend and the oracle and compares them with the summation
/// bound (`n = C KH KW` products per output).
pub fn conv2d_one<B: Backend, T: Float>(backend: &B, case: &ConvCase) -> TestCaseResult {
    let (xs, ws, p) = (&case.input, &case.weight, &case.params);
    let what = format!("conv2d {xs} * {ws} {p:?} ({})", T::DTYPE);
    let out = p
        .output_shape(xs, ws)
        .map_err(|e| TestCaseError::fail(format!("bad case: {e}")))?;
    let x = Input::<T>::new(&seeded(case.kind, case.seed, 0, xs.numel()));
    let w = Input::<T>::new(&seeded(case.kind, case.seed, 1, ws.numel()));
    let (dx, dw) = (x.upload(backend)?, w.upload(backend)?);
    let got: Vec<T> = dev_run(backend, &what, out.numel(), |b| {
        b.conv2d(&dx, xs, &dw, ws, p)
    })?;
    let (ox, ow) = (x.oracle()?, w.oracle()?);
    let want = oracle_run(&what, |o| o.conv2d(&ox, xs, &ow, ws, p))?;
    let (ax, aw) = (x.oracle_abs()?, w.oracle_abs()?);
    let magnitude = oracle_run(&what, |o| o.conv2d(&ax, xs, &aw, ws, p))?;
    let terms = ws.dims()[1..].iter().product();
    let ints = all_integers(&x.exact) && all_integers(&w.exact);
    let bound = sum_bounds_exact_ints::<T>(&magnitude, terms, ints);
    assert_close(&what, &got, &want, &bound)
}

/// Runs one weight-gradient case: the gradient with respect to the weight of the case's
/// convolution for an output gradient drawn like the data (every fourth case cropped by a row
/// and a column, as a transposed convolution's output padding leaves it), against the oracle
/// with the summation bound (`n = N HO WO` products per output).
pub fn conv2d_weight_grad_one<B: Backend, T: Float>(
    backend: &B,
    case: &ConvCase,
) -> TestCaseResult {
    let (xs, ws, p) = (&case.input, &case.weight, &case.params);
    let out = p
        .output_shape(xs, ws)
        .map_err(|e| TestCaseError::fail(format!("bad case: {e}")))?;
    let mut gd = out.dims().to_vec();
    if case.seed % 4 == 0 {
        gd[2] = gd[2].saturating_sub(1).max(1);
        gd[3] = gd[3].saturating_sub(1).max(1);
    }
    let gs = Shape::new(gd);
    let kernel = [ws.dims()[2], ws.dims()[3]];
    let what = format!(
        "conv2d_weight_grad {xs}, {gs}, kernel {kernel:?} {p:?} ({})",
        T::DTYPE
    );
    let x = Input::<T>::new(&seeded(case.kind, case.seed, 0, xs.numel()));
    let g = Input::<T>::new(&seeded(case.kind, case.seed, 2, gs.numel()));
    let (dx, dg) = (x.upload(backend)?, g.upload(backend)?);
    let got: Vec<T> = dev_run(backend, &what, ws.numel(), |b| {
        b.conv2d_weight_grad(&dx, xs, &dg, &gs, kernel, p)
    })?;
    let (ox, og) = (x.oracle()?, g.oracle()?);
    let want = oracle_run(&what, |o| {
        o.conv2d_weight_grad(&ox, xs, &og, &gs, kernel, p)
    })?;
    let (ax, ag) = (x.oracle_abs()?, g.oracle_abs()?);
    let magnitude = oracle_run(&what, |o| {
        o.conv2d_weight_grad(&ax, xs, &ag, &gs, kernel, p)
    })?;
    let terms = gs.dims()[0] * gs.dims()[2] * gs.dims()[3];
    let ints = all_integers(&x.exact) && all_integers(&g.exact);
    let bound = sum_bounds_exact_ints::<T>(&magnitude, terms, ints);
    assert_close(&what, &got, &want, &bound)
}

/// Runs one conv_transpose2d case on the backend and the oracle and compares them with the
/// summation bound (`n = Cin KH KW`, an upper bound on the products per output).
pub fn conv_transpose2d_one<B: Backend, T: Float>(
    backend: &B,
    case: &ConvTransposeCase,
) -> TestCaseResult {
    let (xs, ws, p) = (&case.input, &case.weight, &case.params);
    let what = format!("conv_transpose2d {xs} * {ws} {p:?} ({})", T::DTYPE);
    let out = p
        .output_shape(xs, ws)
        .map_err(|e| TestCaseError::fail(format!("bad case: {e}")))?;
    let x = Input::<T>::new(&seeded(case.kind, case.seed, 0, xs.numel()));
    let w = Input::<T>::new(&seeded(case.kind, case.seed, 1, ws.numel()));
    let (dx, dw) = (x.upload(backend)?, w.upload(backend)?);
    let got: Vec<T> = dev_run(backend, &what, out.numel(), |b| {
        b.conv_transpose2d(&dx, xs, &dw, ws, p)
    })?;
    let (ox, ow) = (x.oracle()?, w.oracle()?);
    let want = oracle_run(&what, |o| o.conv_transpose2d(&ox, xs, &ow, ws, p))?;
    let (ax, aw) = (x.oracle_abs()?, w.oracle_abs()?);
    let magnitude = oracle_run(&what, |o| o.conv_transpose2d(&ax, xs, &aw, ws, p))?;
    let d = ws.dims();
    let terms = d[0] * d[2] * d[3];
    let ints = all_integers(&x.exact) && all_integers(&w.exact);
    let bound = sum_bounds_exact_ints::<T>(&magnitude, terms, ints);
    assert_close(&what, &got, &want, &bound)
}

/// conv2d against the oracle: N 1..=2, C and O 1..=5 (each rarely 0), kernels 1..=5, strides
/// 1..=3, padding 0..=2, dilation 1..=3 (each chosen per axis), input sizes that the stride does
/// and does not divide; and the UNet's 2x2 stride-2 downsampling.
pub fn conv2d<B: Backend, T: Float>(backend: &B) {
    check(&format!("conv2d ({})", T::DTYPE), conv_case(), |case| {
        conv2d_one::<B, T>(backend, &case)
    });
}

/// conv_transpose2d against the oracle: the same ranges as [`conv2d`], every valid output
/// padding (below the stride or the dilation); and the UNet's 2x2 stride-2 upsampling.
pub fn conv_transpose2d<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("conv_transpose2d ({})", T::DTYPE),
        conv_transpose_case(),
        |case| conv_transpose2d_one::<B, T>(backend, &case),
    );
}

/// The weight gradient of conv2d against the oracle, on [`conv2d`]'s cases.
pub fn conv2d_weight_grad<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("conv2d_weight_grad ({})", T::DTYPE),
        conv_case(),
        |case| conv2d_weight_grad_one::<B, T>(backend, &case),
    );
}
