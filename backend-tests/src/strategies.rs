//! Input generators: values per domain, shapes, broadcast-compatible shape pairs, axis sets,
//! and the cases of the bigger kernels (matmul, convolutions), whose data is drawn from a seed.

use dualscore_core::Shape;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams, MatmulSpec};
use dualscore_core::rng::{self, RngKey};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;

// ---- values -------------------------------------------------------------------------------

/// Ordinary values: uniform in [-4, 4), small integers (ties, exact cancellations), and signed
/// zeros.
pub fn value() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        6 => -4.0f64..4.0,
        3 => (-3i8..=3).prop_map(f64::from),
        1 => prop_oneof![Just(0.0), Just(-0.0)],
    ]
}

/// [`value`], sometimes NaN (about one in 40).
pub fn value_or_nan() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![39 => value(), 1 => Just(f64::NAN)]
}

/// Any bit pattern of interest for copies: ordinary values, infinities, NaN, signed zeros,
/// subnormals of f32 and f64, extremes, and arbitrary f64 and f32 bit patterns.
pub fn any_value() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        4 => value(),
        1 => prop_oneof![
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::NAN),
            Just(-0.0),
            Just(1e-40),
            Just(-1e-310),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(f64::from(f32::MAX)),
        ],
        2 => any::<u64>().prop_map(f64::from_bits),
        2 => any::<u32>().prop_map(|b| f64::from(f32::from_bits(b))),
    ]
}

/// `lo..hi` on a logarithmic scale (both positive).
pub fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> + Clone {
    (lo.ln()..hi.ln()).prop_map(f64::exp)
}

/// `len` values from `element`.
pub fn values<S: Strategy<Value = f64> + Clone>(
    element: S,
    len: usize,
) -> impl Strategy<Value = Vec<f64>> + Clone {
    vec(element, len)
}

/// The flavour of seeded data for the bigger kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Standard normal values.
    Normal,
    /// Integers in -3..=3: sums cancel exactly, and exact zeros appear.
    SmallInts,
    /// Normal values with about half of them replaced by zeros.
    Sparse,
    /// Normal values times 10^k for k in -3..=3 per element: terms of very different sizes.
    Scaled,
}

/// Any [`DataKind`].
pub fn data_kind() -> impl Strategy<Value = DataKind> + Clone {
    prop_oneof![
        3 => Just(DataKind::Normal),
        1 => Just(DataKind::SmallInts),
        1 => Just(DataKind::Sparse),
        1 => Just(DataKind::Scaled),
    ]
}

/// `len` values of `kind`, a pure function of `(seed, stream)` (drawn with the library's own
/// counter-based generator, so a failing case is reproduced from its printed seed).
pub fn seeded(kind: DataKind, seed: u64, stream: u64, len: usize) -> Vec<f64> {
    let key = RngKey::new(seed, stream);
    let normal = rng::normal_values(key, 0, len);
    let uniform = || rng::uniform_values(RngKey::new(seed, stream ^ 0x5eed), 0, len);
    match kind {
        DataKind::Normal => normal,
        DataKind::SmallInts => uniform()
            .into_iter()
            .map(|u| (u * 7.0).floor() - 3.0)
            .collect(),
        DataKind::Sparse => normal
            .into_iter()
            .zip(uniform())
            .map(|(n, u)| if u < 0.5 { 0.0 } else { n })
            .collect(),
        DataKind::Scaled => normal
            .into_iter()
            .zip(uniform())
            .map(|(n, u)| n * 10f64.powi((u * 7.0).floor() as i32 - 3))
            .collect(),
    }
}

// ---- shapes -------------------------------------------------------------------------------

/// An axis size in `1..=max`, and rarely 0.
pub fn dim(max: usize) -> impl Strategy<Value = usize> + Clone {
    prop_oneof![12 => 1..=max, 1 => Just(0usize)]
}

/// An axis size in `1..=max`.
pub fn nonzero_dim(max: usize) -> impl Strategy<Value = usize> + Clone {
    1..=max
}

/// A shape of rank `0..=max_rank` with axis sizes from [`dim`].
pub fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Shape> + Clone {
    vec(dim(max_dim), 0..=max_rank).prop_map(Shape::new)
}

/// A shape of rank `min_rank..=max_rank` with no empty axis.
pub fn nonempty_shape(
    min_rank: usize,
    max_rank: usize,
    max_dim: usize,
) -> impl Strategy<Value = Shape> + Clone {
    vec(nonzero_dim(max_dim), min_rank..=max_rank).prop_map(Shape::new)
}

/// A shape and `numel` values for it from `element`.
pub fn shaped<S: Strategy<Value = f64> + Clone>(
    shape: impl Strategy<Value = Shape>,
    element: S,
) -> impl Strategy<Value = (Shape, Vec<f64>)> {
    shape.prop_flat_map(move |s| {
        let n = s.numel();
        (Just(s), values(element.clone(), n))
    })
}

/// Two shapes that broadcast together: both derived from one base shape by dropping leading
/// axes (so ranks differ, down to 0) and setting axes to 1.
pub fn broadcast_pair() -> impl Strategy<Value = (Shape, Shape)> + Clone {
    vec(dim(4), 0..=4)
        .prop_flat_map(|base| {
            let r = base.len();
            (
                Just(base),
                prop_oneof![2 => Just(0usize), 1 => 0..=r],
                prop_oneof![2 => Just(0usize), 1 => 0..=r],
                vec(prop::bool::weighted(0.3), r),
                vec(prop::bool::weighted(0.3), r),
            )
        })
        .prop_map(|(base, drop_l, drop_r, ones_l, ones_r)| {
            let derive = |drop: usize, ones: &[bool]| {
                Shape::new(
                    (drop..base.len())
                        .map(|a| if ones[a] { 1 } else { base[a] })
                        .collect::<Vec<_>>(),
                )
            };
            (derive(drop_l, &ones_l), derive(drop_r, &ones_r))
        })
}

/// A shape and another that it broadcasts to.
pub fn broadcast_target() -> impl Strategy<Value = (Shape, Shape)> + Clone {
    vec(dim(4), 0..=4)
        .prop_flat_map(|target| {
            let r = target.len();
            (Just(target), 0..=r, vec(prop::bool::weighted(0.4), r))
        })
        .prop_map(|(target, drop, ones)| {
            let source: Vec<usize> = (drop..target.len())
                .map(|a| if ones[a] { 1 } else { target[a] })
                .collect();
            (Shape::new(source), Shape::new(target))
        })
}

/// A subset of the axes `0..rank` (from none to all), in random order.
pub fn axis_subset(rank: usize) -> impl Strategy<Value = Vec<usize>> + Clone {
    subsequence((0..rank).collect::<Vec<_>>(), 0..=rank).prop_shuffle()
}

/// A permutation of `0..rank`.
pub fn permutation(rank: usize) -> impl Strategy<Value = Vec<usize>> + Clone {
    Just((0..rank).collect::<Vec<_>>()).prop_shuffle()
}

// ---- matmul -------------------------------------------------------------------------------

/// A matrix size: odd and even sizes, sizes around powers of two, and rarely 0.
pub fn mat_dim() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![
        8 => prop::sample::select(vec![1usize, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33, 40]),
        4 => 1..=12usize,
        1 => Just(0usize),
    ]
}

/// A matmul case: the spec (every transpose and batching combination) and its data.
#[derive(Clone, Debug)]
pub struct MatmulCase {
    /// The product.
    pub spec: MatmulSpec,
    /// Seed of the operands.
    pub seed: u64,
    /// Flavour of the operands.
    pub kind: DataKind,
}

/// Matmul cases with batch 1..=3 and sizes from [`mat_dim`].
pub fn matmul_case() -> impl Strategy<Value = MatmulCase> + Clone {
    (
        1..=3usize,
        mat_dim(),
        mat_dim(),
        mat_dim(),
        any::<[bool; 4]>(),
        any::<u64>(),
        data_kind(),
    )
        .prop_map(|(batch, m, k, n, flags, seed, kind)| MatmulCase {
            spec: MatmulSpec {
                batch,
                m,
                k,
                n,
                transpose_lhs: flags[0],
                transpose_rhs: flags[1],
                lhs_batched: flags[2],
                rhs_batched: flags[3],
            },
            seed,
            kind,
        })
}

// ---- convolutions -------------------------------------------------------------------------

/// A conv2d case: shapes, parameters and data.
#[derive(Clone, Debug)]
pub struct ConvCase {
    /// `[N, C, H, W]`.
    pub input: Shape,
    /// `[O, C, KH, KW]`.
    pub weight: Shape,
    /// Stride, padding, dilation.
    pub params: Conv2dParams,
    /// Seed of the data.
    pub seed: u64,
    /// Flavour of the data.
    pub kind: DataKind,
}

/// One spatial axis of a convolution: (kernel, stride, padding, dilation, input size) with the
/// input at least as large as the dilated kernel minus the padding, and at most 5 more; so the
/// stride divides some sizes and not others.
fn conv_axis() -> impl Strategy<Value = (usize, usize, usize, usize, usize)> {
    (1..=5usize, 1..=3usize, 0..=2usize, 1..=3usize, 0..=5usize).prop_map(|(k, s, p, d, extra)| {
        let span = d * (k - 1) + 1;
        let size = span.saturating_sub(2 * p).max(1) + extra;
        (k, s, p, d, size)
    })
}

/// General conv2d cases, and one in four the UNet's 2x2 stride-2 downsampling.
pub fn conv_case() -> impl Strategy<Value = ConvCase> {
    let general = (
        1..=2usize,
        1..=5usize,
        1..=5usize,
        conv_axis(),
        conv_axis(),
        any::<u64>(),
        data_kind(),
    )
        .prop_map(
            |(n, c, o, (kh, sh, ph, dh, h), (kw, sw, pw, dw, w), seed, kind)| ConvCase {
                input: Shape::new([n, c, h, w]),
                weight: Shape::new([o, c, kh, kw]),
                params: Conv2dParams {
                    stride: [sh, sw],
                    padding: [ph, pw],
                    dilation: [dh, dw],
                },
                seed,
                kind,
            },
        );
    let unet = (
        1..=2usize,
        1..=6usize,
        1..=6usize,
        2..=12usize,
        2..=12usize,
        any::<u64>(),
        data_kind(),
    )
        .prop_map(|(n, c, o, h, w, seed, kind)| ConvCase {
            input: Shape::new([n, c, h, w]),
            weight: Shape::new([o, c, 2, 2]),
            params: Conv2dParams::new(2, 0, 1),
            seed,
            kind,
        });
    prop_oneof![3 => general, 1 => unet]
}

/// A conv_transpose2d case.
#[derive(Clone, Debug)]
pub struct ConvTransposeCase {
    /// `[N, Cin, H, W]`.
    pub input: Shape,
    /// `[Cin, Cout, KH, KW]`.
    pub weight: Shape,
    /// Stride, padding, output padding, dilation.
    pub params: ConvTranspose2dParams,
    /// Seed of the data.
    pub seed: u64,
    /// Flavour of the data.
    pub kind: DataKind,
}

/// One spatial axis of a transposed convolution: (kernel, stride, padding, output padding,
/// dilation, input size), with a valid output padding (below the stride or the dilation) and
/// the padding reduced where it would remove the whole output.
fn conv_transpose_axis() -> impl Strategy<Value = (usize, usize, usize, usize, usize, usize)> {
    (
        1..=5usize,
        1..=3usize,
        0..=2usize,
        1..=3usize,
        1..=6usize,
        any::<u32>(),
    )
        .prop_map(|(k, s, p, d, size, pick)| {
            let op = pick as usize % s.max(d);
            let full = (size - 1) * s + d * (k - 1) + op + 1;
            let p = p.min((full - 1) / 2);
            (k, s, p, op, d, size)
        })
}

/// General conv_transpose2d cases, and one in four the UNet's 2x2 stride-2 upsampling.
pub fn conv_transpose_case() -> impl Strategy<Value = ConvTransposeCase> {
    let general = (
        1..=2usize,
        1..=5usize,
        1..=5usize,
        conv_transpose_axis(),
        conv_transpose_axis(),
        any::<u64>(),
        data_kind(),
    )
        .prop_map(
            |(n, ci, co, (kh, sh, ph, oph, dh, h), (kw, sw, pw, opw, dw, w), seed, kind)| {
                ConvTransposeCase {
                    input: Shape::new([n, ci, h, w]),
                    weight: Shape::new([ci, co, kh, kw]),
                    params: ConvTranspose2dParams {
                        stride: [sh, sw],
                        padding: [ph, pw],
                        output_padding: [oph, opw],
                        dilation: [dh, dw],
                    },
                    seed,
                    kind,
                }
            },
        );
    let unet = (
        1..=2usize,
        1..=6usize,
        1..=6usize,
        1..=6usize,
        1..=6usize,
        any::<u64>(),
        data_kind(),
    )
        .prop_map(|(n, ci, co, h, w, seed, kind)| ConvTransposeCase {
            input: Shape::new([n, ci, h, w]),
            weight: Shape::new([ci, co, 2, 2]),
            params: ConvTranspose2dParams::new(2, 0, 0, 1),
            seed,
            kind,
        });
    prop_oneof![3 => general, 1 => unet]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn generated_cases_are_valid() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..500 {
            let c = conv_case().new_tree(&mut runner).unwrap().current();
            c.params.output_shape(&c.input, &c.weight).unwrap();
            let c = conv_transpose_case()
                .new_tree(&mut runner)
                .unwrap()
                .current();
            c.params.output_shape(&c.input, &c.weight).unwrap();
            let (a, b) = broadcast_pair().new_tree(&mut runner).unwrap().current();
            Shape::broadcast("t", &a, &b).unwrap();
            let (s, t) = broadcast_target().new_tree(&mut runner).unwrap().current();
            assert!(s.broadcasts_to(&t));
        }
    }

    #[test]
    fn seeded_data_is_reproducible() {
        for kind in [
            DataKind::Normal,
            DataKind::SmallInts,
            DataKind::Sparse,
            DataKind::Scaled,
        ] {
            let a = seeded(kind, 7, 1, 100);
            assert_eq!(a, seeded(kind, 7, 1, 100));
            assert_ne!(a, seeded(kind, 7, 2, 100));
        }
        assert!(
            seeded(DataKind::SmallInts, 3, 0, 1000)
                .iter()
                .all(|v| v.fract() == 0.0 && v.abs() <= 3.0)
        );
    }
}
