//! Launchers of `matmul.cu`: batched matrix products, and the GEMM the convolutions build on.
//!
//! [`gemm`] runs `C[b] = A[b] B[b]` with operands read through strides ([`Operand`]), so a
//! transposed or shared operand needs no copy. [`plan`] picks, from the sizes alone, the tile
//! configuration and how many pieces the contraction is split into (split-K): a product with
//! few output tiles and a long contraction, such as a convolution's weight gradient
//! (`m = 64, n = 9, k = 500,000`), would otherwise run on a handful of blocks. Split pieces
//! write partial products to a workspace that a second kernel sums in a fixed order, so the
//! result is the same on every run.

use super::elementwise;
use super::launch::{Args, typed};
use super::modules::Family;
use super::{CudaStorage, Device};
use dualscore_core::backend::MatmulSpec;
use dualscore_core::{DType, Float, Result};

/// Threads per block of the GEMM kernels (`GEMM_THREADS` of `matmul.cu`).
const GEMM_THREADS: u32 = 256;

/// Blocks a product should spread over before its contraction is left whole: about two per
/// multiprocessor on the largest current GPUs. A constant, so that the plan, and with it the
/// order of every sum, depends on the sizes only.
const TARGET_BLOCKS: usize = 256;

/// The fewest values of `k` a split piece covers, so that each piece amortizes its start and
/// its share of the final sum.
const MIN_SPLIT_K: usize = 256;

/// The most blocks along x (2^31 - 1) and z (65,535) of a launch; the kernels loop beyond.
const MAX_GRID_X: usize = i32::MAX as usize;
const MAX_GRID_Z: usize = 65_535;

/// A tile configuration of `matmul.cu`: the block of `C` one thread block computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tile {
    /// 128 x 128 (f32, 8 x 8 a thread) or 64 x 64 (f64, 4 x 4 a thread): big products.
    Large,
    /// 64 x 64 (4 x 4 a thread): products of about 64 rows or columns.
    Medium,
    /// 32 x 32 (2 x 2 a thread): small products.
    Small,
    /// 64 x 16 (4 x 1 a thread): products with few columns.
    Narrow,
    /// 16 x 64 (1 x 4 a thread): products with few rows.
    Wide,
}

/// The sizes of a tile: rows `bm`, columns `bn`, `bk` values of `k` per step, and the
/// `tm x tn` outputs of each thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TileDims {
    pub bm: usize,
    pub bn: usize,
    pub bk: usize,
    pub tm: usize,
    pub tn: usize,
}

impl Tile {
    /// Every tile, in the order [`plan`] prefers them on a tie.
    const ALL: [Tile; 5] = [
        Tile::Large,
        Tile::Medium,
        Tile::Small,
        Tile::Narrow,
        Tile::Wide,
    ];

    /// The tile's sizes for the element type (as in the `GEMM(...)` lines of `matmul.cu`).
    pub fn dims(self, dtype: DType) -> TileDims {
        let (bm, bn, bk, tm, tn) = match (self, dtype) {
            (Tile::Large, DType::F32) => (128, 128, 8, 8, 8),
            (Tile::Large, DType::F64) => (64, 64, 8, 4, 4),
            (Tile::Medium, _) => (64, 64, 16, 4, 4),
            (Tile::Small, _) => (32, 32, 16, 2, 2),
            (Tile::Narrow, _) => (64, 16, 16, 4, 1),
            (Tile::Wide, _) => (16, 64, 16, 1, 4),
        };
        TileDims { bm, bn, bk, tm, tn }
    }

    /// The assumed speed of the tile's kernel, in percent of the 8 x 8 one's products per
    /// second: a thread's products per value it loads from shared memory fall with its
    /// micro-tile (64 per 16 values at 8 x 8, 16 per 8 at 4 x 4, 4 per 4 at 2 x 2).
    fn speed(self, dtype: DType) -> u128 {
        let d = self.dims(dtype);
        match d.tm * d.tn {
            64 => 100,
            16 => 70,
            _ => 35,
        }
    }

    fn kernel<T: Float>(self) -> &'static str {
        match self {
            Tile::Large => typed::<T>("gemm_large_f32", "gemm_large_f64"),
            Tile::Medium => typed::<T>("gemm_medium_f32", "gemm_medium_f64"),
            Tile::Small => typed::<T>("gemm_small_f32", "gemm_small_f64"),
            Tile::Narrow => typed::<T>("gemm_narrow_f32", "gemm_narrow_f64"),
            Tile::Wide => typed::<T>("gemm_wide_f32", "gemm_wide_f64"),
        }
    }
}

/// How one product runs: its tile, and its contraction cut into `splits` pieces of `k_chunk`
/// values (a multiple of the tile's `bk`; the last piece may be shorter, none is empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub tile: Tile,
    pub splits: usize,
    pub k_chunk: usize,
}

impl Plan {
    /// Output tiles of one batch entry.
    fn tiles(&self, dtype: DType, m: usize, n: usize) -> usize {
        let d = self.tile.dims(dtype);
        m.div_ceil(d.bm).saturating_mul(n.div_ceil(d.bn))
    }
}

/// The plan of a product of `batch` entries of `[m, k] x [k, n]`, from the sizes only.
///
/// Each tile gets its split of the contraction ([`split`]); the plan is the one with the least
/// estimated time: waves of [`TARGET_BLOCKS`] blocks, each wave as long as one block's
/// products (the padded tile times its piece of `k`) at the tile's [speed](Tile::speed), the
/// first tile of [`Tile::ALL`] on a tie. So big outputs take the large tile, outputs of up to
/// 64 rows or columns a tile that wastes less of its area, and small products the tiles that
/// spread them over more blocks.
pub(crate) fn plan(dtype: DType, batch: usize, m: usize, n: usize, k: usize) -> Plan {
    let time = |p: &Plan| {
        let d = p.tile.dims(dtype);
        let jobs = batch
            .saturating_mul(p.tiles(dtype, m, n))
            .saturating_mul(p.splits);
        let waves = jobs.div_ceil(TARGET_BLOCKS) as u128;
        let block = (d.bm * d.bn * p.k_chunk.max(d.bk)) as u128;
        waves * block * 100 / p.tile.speed(dtype)
    };
    Tile::ALL
        .iter()
        .map(|&tile| split(tile, dtype, batch, m, n, k))
        .min_by_key(time)
        .expect("there are tiles")
}

/// The split of the contraction for `tile`: whole when the output tiles give at least
/// [`TARGET_BLOCKS`] blocks, else into enough pieces to reach it, each at least
/// [`MIN_SPLIT_K`] long.
fn split(tile: Tile, dtype: DType, batch: usize, m: usize, n: usize, k: usize) -> Plan {
    let d = tile.dims(dtype);
    let blocks = batch
        .saturating_mul(m.div_ceil(d.bm))
        .saturating_mul(n.div_ceil(d.bn));
    let most = (k / MIN_SPLIT_K).clamp(1, TARGET_BLOCKS);
    let wanted = if k == 0 || blocks == 0 || blocks >= TARGET_BLOCKS {
        1
    } else {
        TARGET_BLOCKS.div_ceil(blocks).min(most)
    };
    let k_chunk = k.div_ceil(wanted).next_multiple_of(d.bk);
    let splits = if k == 0 { 1 } else { k.div_ceil(k_chunk) };
    Plan {
        tile,
        splits,
        k_chunk,
    }
}

/// One operand of a product: a buffer, the element where batch entry 0 starts, and strides
/// (in elements) along its output axis (`m` for the left operand, `n` for the right one),
/// along `k`, and between batch entries (0 for an operand shared by every entry).
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a, T> {
    pub storage: &'a CudaStorage<T>,
    pub offset: usize,
    pub stride: usize,
    pub stride_k: usize,
    pub stride_batch: usize,
}

impl<'a, T: Float> Operand<'a, T> {
    /// The left operand `[m, k]` stored row-major from `offset`, or as `[k, m]` when
    /// `transposed`; one matrix after another when `batched`, else one shared matrix.
    pub fn lhs(
        storage: &'a CudaStorage<T>,
        offset: usize,
        mk: [usize; 2],
        transposed: bool,
        batched: bool,
    ) -> Self {
        Operand::with_strides(storage, offset, lhs_strides(mk, transposed, batched))
    }

    /// The right operand `[k, n]` stored row-major from `offset`, or as `[n, k]` when
    /// `transposed`; batched or shared as for [`Operand::lhs`].
    pub fn rhs(
        storage: &'a CudaStorage<T>,
        offset: usize,
        kn: [usize; 2],
        transposed: bool,
        batched: bool,
    ) -> Self {
        Operand::with_strides(storage, offset, rhs_strides(kn, transposed, batched))
    }

    fn with_strides(storage: &'a CudaStorage<T>, offset: usize, s: [usize; 3]) -> Self {
        Operand {
            storage,
            offset,
            stride: s[0],
            stride_k: s[1],
            stride_batch: s[2],
        }
    }

    /// The device address of the element `offset` elements past this operand's start.
    fn address(&self) -> u64 {
        address(self.storage, self.offset)
    }
}

/// The strides (along `m`, along `k`, between batch entries) of a left operand `[m, k]`,
/// stored as `[k, m]` when `transposed`, shared by the batch unless `batched`.
fn lhs_strides([m, k]: [usize; 2], transposed: bool, batched: bool) -> [usize; 3] {
    let (stride, stride_k) = if transposed { (1, m) } else { (k, 1) };
    [stride, stride_k, if batched { m * k } else { 0 }]
}

/// The strides (along `n`, along `k`, between batch entries) of a right operand `[k, n]`,
/// stored as `[n, k]` when `transposed`, shared by the batch unless `batched`.
fn rhs_strides([k, n]: [usize; 2], transposed: bool, batched: bool) -> [usize; 3] {
    let (stride, stride_k) = if transposed { (k, 1) } else { (1, n) };
    [stride, stride_k, if batched { k * n } else { 0 }]
}

/// A batched product `C[b] = A[b] B[b]`, `A[b]` of `[m, k]` and `B[b]` of `[k, n]`.
#[derive(Clone, Copy)]
pub(crate) struct Gemm<'a, T> {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Operand<'a, T>,
    pub b: Operand<'a, T>,
}

impl<'a, T> Gemm<'a, T> {
    /// The product of `batch` pairs `[m, k] x [k, n]` read from `a` and `b`.
    pub fn new(batch: usize, [m, n, k]: [usize; 3], a: Operand<'a, T>, b: Operand<'a, T>) -> Self {
        Gemm {
            batch,
            m,
            n,
            k,
            a,
            b,
        }
    }
}

/// The product as `matmul.cu` takes it (`struct GemmShape`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GemmShape {
    m: i64,
    n: i64,
    k: i64,
    batch: i64,
    a_m: i64,
    a_k: i64,
    a_batch: i64,
    b_k: i64,
    b_n: i64,
    b_batch: i64,
    k_chunk: i64,
    splits: i64,
}

impl GemmShape {
    fn new<T>(g: &Gemm<'_, T>, plan: &Plan) -> GemmShape {
        let i = |v: usize| v as i64;
        GemmShape {
            m: i(g.m),
            n: i(g.n),
            k: i(g.k),
            batch: i(g.batch),
            a_m: i(g.a.stride),
            a_k: i(g.a.stride_k),
            a_batch: i(g.a.stride_batch),
            b_k: i(g.b.stride_k),
            b_n: i(g.b.stride),
            b_batch: i(g.b.stride_batch),
            k_chunk: i(plan.k_chunk),
            splits: i(plan.splits),
        }
    }
}

/// The device address of element `offset` of `storage`.
pub(crate) fn address<T: Float>(storage: &CudaStorage<T>, offset: usize) -> u64 {
    debug_assert!(offset <= storage.len());
    storage.address() + (offset * T::DTYPE.size_in_bytes()) as u64
}

/// The launch grid of a plan: one block per output tile along x, one per batch entry and
/// split piece along z, each capped at the hardware's limit (the kernel loops beyond).
fn grid(plan: &Plan, dtype: DType, g_batch: usize, m: usize, n: usize) -> [u32; 3] {
    let x = plan.tiles(dtype, m, n).clamp(1, MAX_GRID_X);
    let z = g_batch.saturating_mul(plan.splits).clamp(1, MAX_GRID_Z);
    [x as u32, 1, z as u32]
}

/// Writes the product `g` into `out` as `[batch, m, n]` from element `out_offset`. The caller
/// makes sure the product has at least one output element and that the operands and `out`
/// hold every element the strides reach.
pub(crate) fn gemm<T: Float>(
    device: &Device,
    g: &Gemm<'_, T>,
    out: &CudaStorage<T>,
    out_offset: usize,
) -> Result<()> {
    let plan = plan(T::DTYPE, g.batch, g.m, g.n, g.k);
    gemm_planned(device, g, &plan, out, out_offset)
}

/// [`gemm`] with the given plan.
fn gemm_planned<T: Float>(
    device: &Device,
    g: &Gemm<'_, T>,
    plan: &Plan,
    out: &CudaStorage<T>,
    out_offset: usize,
) -> Result<()> {
    debug_assert!(g.batch * g.m * g.n > 0);
    let shape = GemmShape::new(g, plan);
    let grid = grid(plan, T::DTYPE, g.batch, g.m, g.n);
    let block = [GEMM_THREADS, 1, 1];
    let kernel = plan.tile.kernel::<T>();
    let len = g.batch * g.m * g.n;
    if plan.splits == 1 {
        let mut args = Args::new();
        args.value(g.a.address())
            .value(g.b.address())
            .value(address(out, out_offset))
            .value(shape);
        return device.launch(Family::Matmul, kernel, grid, block, 0, &mut args);
    }
    let parts = device.alloc::<T>(plan.splits * len)?;
    let mut args = Args::new();
    args.value(g.a.address())
        .value(g.b.address())
        .buffer(&parts)
        .value(shape);
    device.launch(Family::Matmul, kernel, grid, block, 0, &mut args)?;
    let mut args = Args::new();
    args.value(address(out, out_offset))
        .buffer(&parts)
        .size(len)
        .size(plan.splits);
    device.launch_1d(
        Family::Matmul,
        typed::<T>("splitk_sum_f32", "splitk_sum_f64"),
        len,
        &mut args,
    )
}

pub(crate) fn matmul<T: Float>(
    device: &Device,
    lhs: &CudaStorage<T>,
    rhs: &CudaStorage<T>,
    spec: &MatmulSpec,
) -> Result<CudaStorage<T>> {
    let len = spec.out_len();
    if len == 0 {
        return device.alloc::<T>(0);
    }
    if spec.k == 0 {
        return elementwise::fill(device, len, T::zero());
    }
    let &MatmulSpec { batch, m, k, n, .. } = spec;
    let a = Operand::lhs(lhs, 0, [m, k], spec.transpose_lhs, spec.lhs_batched);
    let b = Operand::rhs(rhs, 0, [k, n], spec.transpose_rhs, spec.rhs_batched);
    let g = Gemm::new(batch, [m, n, k], a, b);
    let out = device.alloc::<T>(len)?;
    gemm(device, &g, &out, 0)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans(dtype: DType) -> impl Iterator<Item = ([usize; 4], Plan)> {
        let sizes = [
            0, 1, 2, 7, 9, 16, 17, 31, 64, 100, 128, 255, 300, 4096, 500_000,
        ];
        let batches = [1, 2, 3, 64, 1000];
        batches.into_iter().flat_map(move |b| {
            sizes.into_iter().flat_map(move |m| {
                sizes.into_iter().flat_map(move |n| {
                    sizes
                        .into_iter()
                        .map(move |k| ([b, m, n, k], plan(dtype, b, m, n, k)))
                })
            })
        })
    }

    #[test]
    fn split_pieces_cover_the_contraction_exactly() {
        for dtype in [DType::F32, DType::F64] {
            for ([b, m, n, k], p) in plans(dtype) {
                let what = format!("{dtype} batch {b} m {m} n {n} k {k}: {p:?}");
                assert!(p.splits >= 1, "{what}");
                assert_eq!(p.k_chunk % p.tile.dims(dtype).bk, 0, "{what}");
                if k == 0 {
                    assert_eq!(p.splits, 1, "{what}");
                    continue;
                }
                // Every piece starts inside the contraction and together they cover it.
                assert!((p.splits - 1) * p.k_chunk < k, "{what}");
                assert!(p.splits * p.k_chunk >= k, "{what}");
                if p.splits > 1 {
                    assert!(p.k_chunk >= MIN_SPLIT_K, "{what}");
                    // Split only while the tiles leave the GPU idle, and not far past it, so
                    // the workspace stays below 2 TARGET_BLOCKS tiles.
                    let blocks = b * p.tiles(dtype, m, n);
                    assert!(blocks < TARGET_BLOCKS, "{what}");
                    assert!(blocks * p.splits < 2 * TARGET_BLOCKS, "{what}");
                }
            }
        }
    }

    #[test]
    fn tiles_follow_the_shape_of_the_output() {
        let tile = |b, m, n, k| plan(DType::F32, b, m, n, k).tile;
        let p = plan(DType::F32, 1, 4096, 4096, 4096);
        let whole = |tile, k_chunk| Plan {
            tile,
            splits: 1,
            k_chunk,
        };
        assert_eq!(p, whole(Tile::Large, 4096));
        assert_eq!(plan(DType::F64, 1, 4096, 4096, 4096).tile, Tile::Large);
        // 3x3 convolutions of 64 images of 64x64 pixels into 128, 64 and 16 channels.
        assert_eq!(tile(64, 128, 4096, 1152), Tile::Large);
        assert_eq!(tile(64, 64, 4096, 576), Tile::Medium);
        assert_eq!(tile(64, 16, 4096, 144), Tile::Wide);
        // A weight gradient of a convolution: 64 output channels, a 3x3 kernel, a long sum,
        // cut into 256 pieces that round up to 1,968 values each, 255 of them in all.
        let p = plan(DType::F32, 1, 64, 9, 500_000);
        assert_eq!((p.tile, p.splits, p.k_chunk), (Tile::Narrow, 255, 1968));
        assert_eq!(plan(DType::F32, 64, 64, 9, 262_144).splits, 4);
        // Matrix-vector products.
        assert_eq!(tile(1, 4096, 1, 4096), Tile::Narrow);
        assert_eq!(tile(8, 1, 4096, 27), Tile::Wide);
        // Small products spread over more, smaller tiles; a long enough sum is split instead.
        assert_eq!(tile(1, 256, 256, 256), Tile::Small);
        assert_eq!(tile(1, 1, 1, 1), Tile::Small);
        let p = plan(DType::F32, 1, 512, 512, 4096);
        assert_eq!((p.tile, p.splits, p.k_chunk), (Tile::Large, 16, 256));
    }

    #[test]
    fn grids_stay_within_the_hardware_limits() {
        let p = plan(DType::F32, 1 << 20, 1, 1, 1 << 12);
        assert_eq!(grid(&p, DType::F32, 1 << 20, 1, 1), [1, 1, 65_535]);
        let p = plan(DType::F32, 1, 1 << 24, 1 << 24, 1);
        let [x, y, z] = grid(&p, DType::F32, 1, 1 << 24, 1 << 24);
        assert_eq!((x as usize, y, z), (MAX_GRID_X, 1, 1));
    }

    #[test]
    fn operands_read_through_their_strides() {
        // A[i, l] of a [3, 5] left operand and B[l, j] of a [5, 4] right one, as the
        // reference reads them: [i * k + l] or [l * m + i]; [l * n + j] or [j * k + l].
        let (m, k, n) = (3, 5, 4);
        assert_eq!(lhs_strides([m, k], false, true), [k, 1, 15]);
        assert_eq!(lhs_strides([m, k], true, true), [1, m, 15]);
        assert_eq!(rhs_strides([k, n], false, true), [1, n, 20]);
        assert_eq!(rhs_strides([k, n], true, true), [k, 1, 20]);
        assert_eq!(lhs_strides([m, k], false, false)[2], 0);
        assert_eq!(rhs_strides([k, n], true, false)[2], 0);
    }
}

/// Every kernel of `matmul.cu` on the device (or the emulator), skipped without one.
#[cfg(test)]
pub(super) mod device_tests {
    use super::*;
    use crate::{Cuda, testing};
    use dualscore_core::Backend;
    use dualscore_core::backend::reference::Reference;

    /// Integers in -8..=8: every sum below is exact in any order, so results must match the
    /// reference exactly.
    pub(crate) fn ints<T: Float>(len: usize, seed: usize) -> Vec<T> {
        (0..len)
            .map(|i| T::of_f64(((i * 7919 + seed * 104_729) % 17) as f64 - 8.0))
            .collect()
    }

    /// Runs `spec` by `plan` into a buffer from element `offset` (the elements before it must
    /// stay untouched) and compares with the reference.
    fn check<T: Float>(gpu: &Cuda, spec: &MatmulSpec, plan: &Plan, offset: usize) {
        let (lhs, rhs) = (ints::<T>(spec.lhs_len(), 1), ints::<T>(spec.rhs_len(), 2));
        let want = Reference.matmul(&lhs, &rhs, spec).unwrap();
        let (l, r) = (gpu.upload(&lhs).unwrap(), gpu.upload(&rhs).unwrap());
        let sentinel = T::of_f64(-100.0);
        let out = gpu
            .upload(&vec![sentinel; offset + spec.out_len()])
            .unwrap();
        let &MatmulSpec { batch, m, k, n, .. } = spec;
        let a = Operand::lhs(&l, 0, [m, k], spec.transpose_lhs, spec.lhs_batched);
        let b = Operand::rhs(&r, 0, [k, n], spec.transpose_rhs, spec.rhs_batched);
        let g = Gemm::new(batch, [m, n, k], a, b);
        gemm_planned(&gpu.device, &g, plan, &out, offset).unwrap();
        let got = gpu.download(&out).unwrap();
        assert!(got[..offset].iter().all(|&v| v == sentinel), "{spec:?}");
        assert!(got[offset..] == want[..], "{spec:?} by {plan:?}");
    }

    fn every_layout<T: Float>(gpu: &Cuda, tile: Tile) {
        let d = tile.dims(T::DTYPE);
        // Two tiles with a ragged edge along m and n; three split pieces, the last one short.
        let (m, n, k) = (d.bm + 3, 2 * d.bn - 1, 5 * d.bk + 3);
        for flags in 0..16 {
            let spec = MatmulSpec {
                transpose_lhs: flags & 1 != 0,
                transpose_rhs: flags & 2 != 0,
                lhs_batched: flags & 4 != 0,
                rhs_batched: flags & 8 != 0,
                ..MatmulSpec::batched(2, m, k, n)
            };
            for (splits, k_chunk) in [(1, k.next_multiple_of(d.bk)), (3, 2 * d.bk)] {
                let plan = Plan {
                    tile,
                    splits,
                    k_chunk,
                };
                check::<T>(gpu, &spec, &plan, 5 * flags);
            }
        }
    }

    #[test]
    fn every_tile_and_split_on_every_operand_layout() {
        let Some(gpu) = testing::device() else {
            return;
        };
        for tile in Tile::ALL {
            every_layout::<f32>(&gpu, tile);
            every_layout::<f64>(&gpu, tile);
        }
    }

    #[test]
    fn single_rows_columns_and_terms() {
        let Some(gpu) = testing::device() else {
            return;
        };
        for (batch, m, k, n) in [(1, 1, 1, 1), (3, 1, 7, 1), (1, 70, 1, 1), (2, 1, 1, 70)] {
            let spec = MatmulSpec::batched(batch, m, k, n);
            check::<f32>(&gpu, &spec, &plan(DType::F32, batch, m, n, k), 0);
            check::<f64>(&gpu, &spec, &plan(DType::F64, batch, m, n, k), 0);
        }
    }

    #[test]
    fn tile_rows_in_groups_of_eight_with_a_partial_last_group() {
        let Some(gpu) = testing::device() else {
            return;
        };
        // 10 rows of 3 tiles: a group of eight rows, then one of two.
        let spec = MatmulSpec::batched(1, 32 * 9 + 1, 5, 70);
        let plan = Plan {
            tile: Tile::Small,
            splits: 1,
            k_chunk: 16,
        };
        check::<f32>(&gpu, &spec, &plan, 0);
    }

    #[test]
    fn a_long_contraction_is_split_and_summed_in_order() {
        let Some(gpu) = testing::device() else {
            return;
        };
        // A weight gradient's shape: 250 pieces of 400.
        let spec = MatmulSpec {
            transpose_rhs: true,
            ..MatmulSpec::batched(1, 64, 100_000, 9)
        };
        let p = plan(DType::F32, 1, 64, 9, 100_000);
        assert_eq!((p.tile, p.splits, p.k_chunk), (Tile::Narrow, 250, 400));
        let (lhs, rhs) = (
            ints::<f32>(spec.lhs_len(), 3),
            ints::<f32>(spec.rhs_len(), 4),
        );
        let want = Reference.matmul(&lhs, &rhs, &spec).unwrap();
        let (l, r) = (gpu.upload(&lhs).unwrap(), gpu.upload(&rhs).unwrap());
        let got = gpu.download(&gpu.matmul(&l, &r, &spec).unwrap()).unwrap();
        assert_eq!(got, want);
        // The same bits on a second run.
        let again = gpu.download(&gpu.matmul(&l, &r, &spec).unwrap()).unwrap();
        assert!(
            got.iter()
                .zip(&again)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
}
