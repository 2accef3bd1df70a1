//! Copies that must be exact: memory round trips, casts, broadcast_to, permute, concat, slice,
//! pad and flip. Values include NaN, infinities, signed zeros and subnormals.

use crate::harness::{Input, check, dev_run, fetch, oracle_run, round, run_ok};
use crate::strategies::{
    any_value, axis_subset, broadcast_target, dim, permutation, shape, shaped, values,
};
use crate::tolerance::assert_exact;
use dualscore_core::backend::{concat_shape, pad_shape, slice_shape};
use dualscore_core::{Backend, Float, Shape};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult};

fn shape_of(op: &str, r: dualscore_core::Result<Shape>) -> Result<Shape, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("bad {op} case: {e}")))
}

/// `fill`, `zeros`, `upload`, `download` and `len`: exact round trips of any bit pattern, for
/// lengths 0 to 100.
pub fn memory<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("memory ({})", T::DTYPE),
        (vec(any_value(), 0..=100), any_value(), 0..=100usize),
        |(data, value, len)| {
            let host: Vec<T> = round(&data);
            let what = format!("upload/download ({})", T::DTYPE);
            let dev = run_ok(&what, || backend.upload(&host))?;
            let back = fetch(backend, &what, &dev, host.len())?;
            assert_exact(&what, &back, &crate::harness::widen(&host))?;

            let value = T::of_f64(value);
            let what = format!("fill {len} with {value} ({})", T::DTYPE);
            let got: Vec<T> = dev_run(backend, &what, len, |b| b.fill(len, value))?;
            assert_exact(&what, &got, &vec![value.as_f64(); len])?;

            let what = format!("zeros {len} ({})", T::DTYPE);
            let got: Vec<T> = dev_run(backend, &what, len, |b| b.zeros(len))?;
            assert_exact(&what, &got, &vec![0.0; len])
        },
    );
}

fn cast_to<B: Backend, T: Float, U: Float>(backend: &B, host: &[T]) -> TestCaseResult {
    let what = format!("cast {} -> {}", T::DTYPE, U::DTYPE);
    let dev = run_ok(&what, || backend.upload(host))?;
    let out = run_ok(&what, || backend.cast::<T, U>(&dev))?;
    let got = fetch(backend, &what, &out, host.len())?;
    // Widening is exact, narrowing rounds to nearest (even): what `as` does.
    let want: Vec<f64> = host
        .iter()
        .map(|v| U::of_f64(v.as_f64()).as_f64())
        .collect();
    assert_exact(&what, &got, &want)
}

/// `cast` from `T` to f32 and to f64: exact widening, round-to-nearest narrowing (overflow to
/// infinity, underflow to subnormals and zero), NaN kept.
pub fn cast<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("cast ({})", T::DTYPE),
        vec(any_value(), 0..=64),
        |data| {
            let host: Vec<T> = round(&data);
            cast_to::<B, T, f32>(backend, &host)?;
            cast_to::<B, T, f64>(backend, &host)
        },
    );
}

/// Checks one `broadcast_to` of `values` (shape `s`) to `t` against the oracle, exactly.
pub fn broadcast_to_one<B: Backend, T: Float>(
    backend: &B,
    s: &Shape,
    t: &Shape,
    values: &[f64],
) -> TestCaseResult {
    let what = format!("broadcast_to {s} -> {t} ({})", T::DTYPE);
    let x = Input::<T>::new(values);
    let dx = x.upload(backend)?;
    let got: Vec<T> = dev_run(backend, &what, t.numel(), |b| b.broadcast_to(&dx, s, t))?;
    let ox = x.oracle()?;
    let want = oracle_run(&what, |o| o.broadcast_to(&ox, s, t))?;
    assert_exact(&what, &got, &want)
}

/// `broadcast_to` against the oracle, exactly: sources of lower rank and with size-1 axes.
pub fn broadcast_to<B: Backend, T: Float>(backend: &B) {
    let case = broadcast_target().prop_flat_map(|(s, t)| {
        let n = s.numel();
        (Just(s), Just(t), values(any_value(), n))
    });
    check(
        &format!("broadcast_to ({})", T::DTYPE),
        case,
        |(s, t, v)| broadcast_to_one::<B, T>(backend, &s, &t, &v),
    );
}

/// Checks one `permute` against the oracle, exactly.
pub fn permute_one<B: Backend, T: Float>(
    backend: &B,
    s: &Shape,
    values: &[f64],
    axes: &[usize],
) -> TestCaseResult {
    let what = format!("permute {s} by {axes:?} ({})", T::DTYPE);
    let out = shape_of("permute", s.permuted("permute", axes))?;
    let x = Input::<T>::new(values);
    let dx = x.upload(backend)?;
    let got: Vec<T> = dev_run(backend, &what, out.numel(), |b| b.permute(&dx, s, axes))?;
    let ox = x.oracle()?;
    let want = oracle_run(&what, |o| o.permute(&ox, s, axes))?;
    assert_exact(&what, &got, &want)
}

/// `permute` against the oracle, exactly: ranks 0 to 5, every permutation.
pub fn permute<B: Backend, T: Float>(backend: &B) {
    let case = shaped(shape(5, 4), any_value()).prop_flat_map(|(s, v)| {
        let r = s.rank();
        (Just(s), Just(v), permutation(r))
    });
    check(&format!("permute ({})", T::DTYPE), case, |(s, v, axes)| {
        permute_one::<B, T>(backend, &s, &v, &axes)
    });
}

/// A concatenation: 1 to 4 parts of rank 1 to 4 that differ along `axis` (sizes 0 to 3).
fn concat_case() -> impl Strategy<Value = (Vec<(Shape, Vec<f64>)>, usize)> {
    (vec(dim(3), 1..=4), vec(0..=3usize, 1..=4))
        .prop_flat_map(|(base, sizes)| {
            let r = base.len();
            (Just(base), Just(sizes), 0..r)
        })
        .prop_flat_map(|(base, sizes, axis)| {
            let parts: Vec<_> = sizes
                .iter()
                .map(|&n| {
                    let mut dims = base.clone();
                    dims[axis] = n;
                    let s = Shape::new(dims);
                    let numel = s.numel();
                    (Just(s), values(any_value(), numel))
                })
                .collect();
            (parts, Just(axis))
        })
}

/// Checks one `concat` of `parts` along `axis` against the oracle, exactly.
pub fn concat_one<B: Backend, T: Float>(
    backend: &B,
    parts: &[(Shape, Vec<f64>)],
    axis: usize,
) -> TestCaseResult {
    let shapes: Vec<&Shape> = parts.iter().map(|(s, _)| s).collect();
    let what = format!("concat {shapes:?} along {axis} ({})", T::DTYPE);
    let out = shape_of("concat", concat_shape(&shapes, axis))?;
    let inputs: Vec<Input<T>> = parts.iter().map(|(_, v)| Input::new(v)).collect();
    let dev = inputs
        .iter()
        .map(|x| x.upload(backend))
        .collect::<Result<Vec<_>, _>>()?;
    let dev_parts: Vec<_> = dev.iter().zip(&shapes).map(|(d, &s)| (d, s)).collect();
    let got: Vec<T> = dev_run(backend, &what, out.numel(), |b| b.concat(&dev_parts, axis))?;
    let ora = inputs
        .iter()
        .map(|x| x.oracle())
        .collect::<Result<Vec<_>, _>>()?;
    let ora_parts: Vec<_> = ora.iter().zip(&shapes).map(|(d, &s)| (d, s)).collect();
    let want = oracle_run(&what, |o| o.concat(&ora_parts, axis))?;
    assert_exact(&what, &got, &want)
}

/// `concat` against the oracle, exactly: several parts, some empty along the axis.
pub fn concat<B: Backend, T: Float>(backend: &B) {
    check(
        &format!("concat ({})", T::DTYPE),
        concat_case(),
        |(parts, axis)| concat_one::<B, T>(backend, &parts, axis),
    );
}

/// Checks one `slice` against the oracle, exactly.
pub fn slice_one<B: Backend, T: Float>(
    backend: &B,
    s: &Shape,
    values: &[f64],
    axis: usize,
    start: usize,
    len: usize,
) -> TestCaseResult {
    let what = format!("slice {s} axis {axis} {start}+{len} ({})", T::DTYPE);
    let out = shape_of("slice", slice_shape(s, axis, start, len))?;
    let x = Input::<T>::new(values);
    let dx = x.upload(backend)?;
    let got: Vec<T> = dev_run(backend, &what, out.numel(), |b| {
        b.slice(&dx, s, axis, start, len)
    })?;
    let ox = x.oracle()?;
    let want = oracle_run(&what, |o| o.slice(&ox, s, axis, start, len))?;
    assert_exact(&what, &got, &want)
}

/// A valid `(axis, start, len)` for a shape of rank at least 1.
pub fn slice_range(s: &Shape) -> impl Strategy<Value = (usize, usize, usize)> + use<> {
    let dims = s.dims().to_vec();
    (0..dims.len())
        .prop_flat_map(move |axis| (Just(axis), 0..=dims[axis], Just(dims[axis])))
        .prop_flat_map(|(axis, start, size)| (Just(axis), Just(start), 0..=size - start))
}

/// `slice` against the oracle, exactly: every axis, every valid range (empty ones included).
pub fn slice<B: Backend, T: Float>(backend: &B) {
    let case =
        shaped(vec(dim(5), 1..=4).prop_map(Shape::new), any_value()).prop_flat_map(|(s, v)| {
            let range = slice_range(&s);
            (Just(s), Just(v), range)
        });
    check(
        &format!("slice ({})", T::DTYPE),
        case,
        |(s, v, (axis, start, len))| slice_one::<B, T>(backend, &s, &v, axis, start, len),
    );
}

/// Checks one `pad` against the oracle, exactly.
pub fn pad_one<B: Backend, T: Float>(
    backend: &B,
    s: &Shape,
    values: &[f64],
    pads: &[(usize, usize)],
) -> TestCaseResult {
    let what = format!("pad {s} by {pads:?} ({})", T::DTYPE);
    let out = shape_of("pad", pad_shape(s, pads))?;
    let x = Input::<T>::new(values);
    let dx = x.upload(backend)?;
    let got: Vec<T> = dev_run(backend, &what, out.numel(), |b| b.pad(&dx, s, pads))?;
    let ox = x.oracle()?;
    let want = oracle_run(&what, |o| o.pad(&ox, s, pads))?;
    assert_exact(&what, &got, &want)
}

/// `pad` against the oracle, exactly: 0 to 2 zeros before and after each axis, ranks 0 to 4.
pub fn pad<B: Backend, T: Float>(backend: &B) {
    let case = shaped(shape(4, 4), any_value()).prop_flat_map(|(s, v)| {
        let r = s.rank();
        (Just(s), Just(v), vec((0..=2usize, 0..=2usize), r))
    });
    check(&format!("pad ({})", T::DTYPE), case, |(s, v, pads)| {
        pad_one::<B, T>(backend, &s, &v, &pads)
    });
}

/// Checks one `flip` against the oracle, exactly.
pub fn flip_one<B: Backend, T: Float>(
    backend: &B,
    s: &Shape,
    values: &[f64],
    axes: &[usize],
) -> TestCaseResult {
    let what = format!("flip {s} along {axes:?} ({})", T::DTYPE);
    let x = Input::<T>::new(values);
    let dx = x.upload(backend)?;
    let got: Vec<T> = dev_run(backend, &what, s.numel(), |b| b.flip(&dx, s, axes))?;
    let ox = x.oracle()?;
    let want = oracle_run(&what, |o| o.flip(&ox, s, axes))?;
    assert_exact(&what, &got, &want)
}

/// `flip` against the oracle, exactly: any subset of the axes (none to all), ranks 0 to 4.
pub fn flip<B: Backend, T: Float>(backend: &B) {
    let case = shaped(shape(4, 4), any_value()).prop_flat_map(|(s, v)| {
        let r = s.rank();
        (Just(s), Just(v), axis_subset(r))
    });
    check(&format!("flip ({})", T::DTYPE), case, |(s, v, axes)| {
        flip_one::<B, T>(backend, &s, &v, &axes)
    });
}
