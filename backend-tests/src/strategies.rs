//! Input generators: values per domain, shapes, broadcast-compatible shape pairs, axis sets,
//! and the cases of the bigger kernels (matmul, convolutions), whose data is drawn from a seed.

use dualscore_core::Shape;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams, MatmulSpec};
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

/// [`value`], sometimes NaN, +inf or -inf (about one in 40 each).
pub fn value_or_special() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        37 => value(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
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
    /// Roughly standard normal values.
    Normal,
    /// Integers in -3..=3: sums cancel exactly, and exact zeros appear.
    SmallInts,
    /// Normal values with about half of them replaced by zeros.
    Sparse,
    /// Normal values times 10^k for k in -3..=3 per element: terms of very different sizes.
    Scaled,
    /// Normal values with about one in 50 replaced by NaN, +inf or -inf.
    NonFinite,
}

/// Any [`DataKind`], mostly finite.
pub fn data_kind() -> impl Strategy<Value = DataKind> + Clone {
    prop_oneof![
        6 => Just(DataKind::Normal),
        2 => Just(DataKind::SmallInts),
        2 => Just(DataKind::Sparse),
        2 => Just(DataKind::Scaled),
        1 => Just(DataKind::NonFinite),
    ]
}

/// A SplitMix64 step (Steele, Lea and Flood, 2014): a fast, well-mixed 64-bit sequence.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from 53 random bits.
fn unit(state: &mut u64) -> f64 {
    (splitmix(state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `len` values of `kind`, a pure function of `(seed, stream)`, so a failing case is
/// reproduced from its printed seed. (A fast generator: the big cases need millions of values;
/// the normal values are a sum of four uniforms, close enough in shape for testing.)
pub fn seeded(kind: DataKind, seed: u64, stream: u64, len: usize) -> Vec<f64> {
    let mut state = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let normal = |state: &mut u64| {
        (unit(state) + unit(state) + unit(state) + unit(state) - 2.0) * 3f64.sqrt()
    };
    (0..len)
        .map(|_| match kind {
            DataKind::Normal => normal(&mut state),
            DataKind::SmallInts => (unit(&mut state) * 7.0).floor() - 3.0,
            DataKind::Sparse => {
                let v = normal(&mut state);
                if unit(&mut state) < 0.5 { 0.0 } else { v }
            }
            DataKind::Scaled => {
                let v = normal(&mut state);
                v * 10f64.powi((unit(&mut state) * 7.0).floor() as i32 - 3)
            }
            DataKind::NonFinite => {
                let v = normal(&mut state);
                match (unit(&mut state) * 150.0) as u32 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    _ => v,
                }
            }
        })
        .collect()
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
    broadcast_pair_from(vec(dim(4), 0..=4))
}

/// Two shapes derived from a base shape of `base` as in [`broadcast_pair`].
pub fn broadcast_pair_from(
    base: impl Strategy<Value = Vec<usize>> + Clone,
) -> impl Strategy<Value = (Shape, Shape)> + Clone {
    base.prop_flat_map(|base| {
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
    broadcast_target_from(vec(dim(4), 0..=4))
}

/// A shape and a target of `target` that it broadcasts to (leading axes dropped, axes set to 1).
pub fn broadcast_target_from(
    target: impl Strategy<Value = Vec<usize>> + Clone,
) -> impl Strategy<Value = (Shape, Shape)> + Clone {
    target
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

/// The dimensions of a large tensor (up to [`LARGE_NUMEL`] elements, mostly above 2^14):
/// long and short innermost axes, ranks 1 to 4, so that a backend's partition into blocks,
/// chunks or thread pieces has several pieces and ragged ends.
pub fn large_dims() -> impl Strategy<Value = Vec<usize>> + Clone {
    prop_oneof![
        (16_000..=LARGE_NUMEL).prop_map(|n| vec![n]),
        (2..=40usize, 400..=5000usize).prop_map(|(a, b)| vec![a, b]),
        (3000..=40_000usize, 1..=6usize).prop_map(|(a, b)| vec![a, b]),
        (2..=8usize, 2..=40usize, 100..=900usize).prop_map(|(a, b, c)| vec![a, b, c]),
        (2..=6usize, 3..=9usize, 3..=40usize, 20..=300usize)
            .prop_map(|(a, b, c, d)| vec![a, b, c, d]),
    ]
    .prop_map(|mut dims| {
        while dims.iter().product::<usize>() > LARGE_NUMEL {
            let i = (0..dims.len()).max_by_key(|&i| dims[i]).unwrap_or(0);
            dims[i] = dims[i].div_ceil(2);
        }
        dims
    })
}

/// The most elements of a [`large_dims`] shape.
pub const LARGE_NUMEL: usize = 160_000;

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

/// Matmul cases with batch 1..=3 (rarely 0) and sizes from [`mat_dim`].
pub fn matmul_case() -> impl Strategy<Value = MatmulCase> + Clone {
    (
        prop_oneof![15 => 1..=3usize, 1 => Just(0usize)],
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

/// A count (batch, channels) in `1..=max`, and rarely 0 (an empty output, or an empty sum).
fn count(max: usize) -> impl Strategy<Value = usize> + Clone {
    prop_oneof![15 => 1..=max, 1 => Just(0usize)]
}

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
        count(2),
        count(5),
        count(5),
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
        count(2),
        count(5),
        count(5),
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

// ---- large cases ---------------------------------------------------------------------------

/// Data of a large case: drawn from a seed, never printed.
#[derive(Clone, Copy, Debug)]
pub struct Seeded {
    /// Flavour of the data.
    pub kind: DataKind,
    /// Seed of the data.
    pub seed: u64,
}

impl Seeded {
    /// `len` values of stream `stream`.
    pub fn values(&self, stream: u64, len: usize) -> Vec<f64> {
        seeded(self.kind, self.seed, stream, len)
    }
}

/// Any [`Seeded`].
pub fn seeded_data() -> impl Strategy<Value = Seeded> + Clone {
    (data_kind(), any::<u64>()).prop_map(|(kind, seed)| Seeded { kind, seed })
}

/// Matmuls of up to about 4 million products: many rows (split into row blocks), few rows and
/// many columns (split into column blocks), and batches of medium products; every flag.
pub fn large_matmul_case() -> impl Strategy<Value = MatmulCase> {
    let sizes = prop_oneof![
        (Just(1usize), 250..=300usize, 24..=40usize, 180..=260usize),
        (Just(1usize), 1..=12usize, 300..=500usize, 500..=640usize),
        (2..=4usize, 40..=90usize, 40..=90usize, 40..=90usize),
    ];
    (sizes, any::<[bool; 4]>(), any::<u64>(), data_kind()).prop_map(
        |((batch, m, k, n), flags, seed, kind)| MatmulCase {
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
        },
    )
}

/// Large conv2d cases: many output pixels (several column tiles of an im2col backend), and
/// the shape of a weight gradient (a kernel nearly as large as the image, a few output pixels,
/// a long contraction).
pub fn large_conv_case() -> impl Strategy<Value = ConvCase> {
    let pixels = (
        1..=2usize,
        2..=6usize,
        2..=6usize,
        3..=5usize,
        24..=40usize,
        24..=40usize,
        1..=2usize,
        0..=2usize,
        1..=2usize,
        any::<u64>(),
        data_kind(),
    )
        .prop_map(|(n, c, o, k, h, w, s, p, d, seed, kind)| ConvCase {
            input: Shape::new([n, c, h, w]),
            weight: Shape::new([o, c, k, k]),
            params: Conv2dParams::new(s, p, d),
            seed,
            kind,
        });
    let gradient = (
        1..=4usize,
        6..=10usize,
        1..=6usize,
        10..=16usize,
        0..=4usize,
        0..=1usize,
        any::<u64>(),
        data_kind(),
    )
        .prop_map(|(n, c, o, size, shrink, p, seed, kind)| ConvCase {
            input: Shape::new([n, c, size, size]),
            weight: Shape::new([o, c, size - shrink, size - shrink]),
            params: Conv2dParams::new(1, p, 1),
            seed,
            kind,
        });
    prop_oneof![pixels, gradient]
}

/// Large conv_transpose2d cases: strides 1 to 3 on inputs up to 20 x 20.
pub fn large_conv_transpose_case() -> impl Strategy<Value = ConvTransposeCase> {
    (
        1..=2usize,
        2..=6usize,
        2..=6usize,
        2..=5usize,
        12..=20usize,
        12..=20usize,
        1..=3usize,
        0..=1usize,
        any::<u64>(),
        data_kind(),
    )
        .prop_map(|(n, ci, co, k, h, w, s, p, seed, kind)| ConvTransposeCase {
            input: Shape::new([n, ci, h, w]),
            weight: Shape::new([ci, co, k, k]),
            params: ConvTranspose2dParams::new(s, p, s - 1, 1),
            seed,
            kind,
        })
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
            DataKind::NonFinite,
        ] {
            let a = seeded(kind, 7, 1, 100);
            assert_eq!(a, seeded(kind, 7, 1, 100));
            assert_ne!(format!("{a:?}"), format!("{:?}", seeded(kind, 7, 2, 100)));
        }
        assert!(
            seeded(DataKind::SmallInts, 3, 0, 1000)
                .iter()
                .all(|v| v.fract() == 0.0 && v.abs() <= 3.0)
        );
    }
}
