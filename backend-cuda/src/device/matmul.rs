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
use super::launch::{Args, BLOCK, grid_1d, typed};
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

/// The large tile is used when the product offers at least this many blocks (with splitting).
const MIN_LARGE_BLOCKS: usize = 128;

/// The most blocks along x (2^31 - 1) and z (65,535) of a launch; the kernels loop beyond.
const MAX_GRID_X: usize = i32::MAX as usize;
const MAX_GRID_Z: usize = 65_535;

/// A tile configuration of `matmul.cu`: the block of `C` one thread block computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tile {
    /// 128 x 128 (f32, 8 x 8 a thread) or 64 x 64 (f64, 4 x 4 a thread): big products.
    Large,
    /// 32 x 32: small products.
    Small,
    /// 64 x 16: products with at most 16 columns.
    Narrow,
    /// 16 x 64: products with at most 16 rows.
    Wide,
}

/// The sizes of a tile: rows `bm`, columns `bn`, and `bk` values of `k` per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TileDims {
    pub bm: usize,
    pub bn: usize,
    pub bk: usize,
}

impl Tile {
    /// The tile's sizes for the element type (as in the `GEMM(...)` lines of `matmul.cu`).
    pub fn dims(self, dtype: DType) -> TileDims {
        let (bm, bn, bk) = match (self, dtype) {
            (Tile::Large, DType::F32) => (128, 128, 8),
            (Tile::Large, DType::F64) => (64, 64, 8),
            (Tile::Small, _) => (32, 32, 16),
            (Tile::Narrow, _) => (64, 16, 16),
            (Tile::Wide, _) => (16, 64, 16),
        };
        TileDims { bm, bn, bk }
    }

    fn kernel<T: Float>(self) -> &'static str {
        match self {
            Tile::Large => typed::<T>("gemm_large_f32", "gemm_large_f64"),
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
/// The large tile when both sides fill at least half of it and there is work for
/// [`MIN_LARGE_BLOCKS`] blocks; else a tile shaped like the output (narrow, wide or small).
/// The contraction is split when the output tiles give fewer than [`TARGET_BLOCKS`] blocks:
/// into enough pieces to reach it, each at least [`MIN_SPLIT_K`] long.
pub(crate) fn plan(dtype: DType, batch: usize, m: usize, n: usize, k: usize) -> Plan {
    let most_splits = (k / MIN_SPLIT_K).clamp(1, TARGET_BLOCKS);
    let blocks = |tile: Tile| {
        let d = tile.dims(dtype);
        batch
            .saturating_mul(m.div_ceil(d.bm))
            .saturating_mul(n.div_ceil(d.bn))
    };
    let large = Tile::Large.dims(dtype);
    let tile = if 2 * m >= large.bm
        && 2 * n >= large.bn
        && blocks(Tile::Large).saturating_mul(most_splits) >= MIN_LARGE_BLOCKS
    {
        Tile::Large
    } else if n <= 16 && m > 16 {
        Tile::Narrow
    } else if m <= 16 && n > 16 {
        Tile::Wide
    } else {
        Tile::Small
    };
    let bk = tile.dims(dtype).bk;
    let blocks = blocks(tile);
    let wanted = if k == 0 || blocks == 0 || blocks >= TARGET_BLOCKS {
        1
    } else {
        TARGET_BLOCKS.div_ceil(blocks).min(most_splits)
    };
    let k_chunk = k.div_ceil(wanted).next_multiple_of(bk);
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
    device.launch(
        Family::Matmul,
        typed::<T>("splitk_sum_f32", "splitk_sum_f64"),
        grid_1d(len),
        [BLOCK, 1, 1],
        0,
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
        let p = plan(DType::F32, 1, 4096, 4096, 4096);
        assert_eq!(
            p,
            Plan {
                tile: Tile::Large,
                splits: 1,
                k_chunk: 4096
            }
        );
        assert_eq!(plan(DType::F64, 1, 4096, 4096, 4096).tile, Tile::Large);
        // A weight gradient of a convolution: 64 output channels, a 3x3 kernel, a long sum.
        let p = plan(DType::F32, 1, 64, 9, 500_000);
        assert_eq!(p.tile, Tile::Narrow);
        // 256 pieces asked for, of 1,968 values each after rounding to the tile's step.
        assert_eq!((p.splits, p.k_chunk), (255, 1968));
        assert_eq!(plan(DType::F32, 64, 64, 9, 262_144).splits, 4);
        // One output channel over many pixels; matrix-vector products.
        assert_eq!(plan(DType::F32, 8, 1, 4096, 27).tile, Tile::Wide);
        assert_eq!(plan(DType::F32, 1, 4096, 1, 4096).tile, Tile::Narrow);
        assert_eq!(plan(DType::F64, 1, 1, 1, 1).tile, Tile::Small);
        // Big enough for the large tile only with enough blocks.
        assert_eq!(plan(DType::F32, 1, 256, 256, 256).tile, Tile::Small);
        let p = plan(DType::F32, 1, 512, 512, 4096);
        assert_eq!(
            p,
            Plan {
                tile: Tile::Large,
                splits: 16,
                k_chunk: 256
            }
        );
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
