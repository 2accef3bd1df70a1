// Matrix products: a batched GEMM tiled in shared memory with register blocking, and the
// fixed-order sum of the partial products of a split contraction (split-K).
//
// C[b] = A[b] B[b] with A[b] of m x k and B[b] of k x n, each operand read through strides
// (so transposed and shared operands need no copy), C contiguous [batch, m, n]. A block
// computes one BM x BN tile of C for one batch entry and one range of k; each of its 256
// threads holds a TM x TN micro-tile of accumulators in registers. Per step the block stages
// a BM x BK slice of A and a BK x BN slice of B in shared memory (two buffers: the next
// slice is read from global memory into registers while the current one is multiplied).
#include "common.cuh"

#define GEMM_THREADS 256

// For nvcc: unroll loops of constant trip count, and fit two blocks of GEMM_THREADS on a
// multiprocessor (at most 128 registers a thread). Other compilers see plain code.
#ifdef __NVCC__
#define UNROLL _Pragma("unroll")
#define GEMM_BOUNDS __launch_bounds__(GEMM_THREADS, 2)
#else
#define UNROLL
#define GEMM_BOUNDS
#endif

// One product, as the launcher passes it (the layout of `GemmShape` in matmul.rs).
struct GemmShape {
    long long m, n, k, batch;
    // A[b, i, l] = a[b * a_batch + i * a_m + l * a_k].
    long long a_m, a_k, a_batch;
    // B[b, l, j] = b[b * b_batch + l * b_k + j * b_n].
    long long b_k, b_n, b_batch;
    // Each split of the contraction covers k_chunk values of l (a multiple of BK); with more
    // than one split, split s of batch entry b writes its partial product to
    // c[(s * batch + b) * m * n ...] for splitk_sum to add up.
    long long k_chunk, splits;
};

// One operand's share of a staged slice: a BX x BK block (x along m for A, along n for B),
// LOADS elements per thread, held as [BK][BX + PAD] in shared memory. A thread's elements are
// fixed for the whole product: the map from thread to element walks the operand's contiguous
// axis fastest, so that neighbouring threads read neighbouring addresses. Element r of a
// thread is its element 0 moved r times by (x_step, kk_step): along x when k is the
// contiguous axis, along k otherwise.
template <typename T, int LOADS>
struct Stage {
    const T* src;       // element 0 at l = 0 (the operand's start when outside)
    long long src_step; // from element r to element r + 1, in elements of the operand
    long long x_left;   // extent - x of element 0: element r is inside when r * x_step < x_left
    int x_step, kk_step;
    int kk;             // element 0's offset along k within the slice
    int slot;           // element 0's index in the shared [BK][BX + PAD] block
    T value[LOADS];     // the elements read for the next slice
};

template <typename T, int BX, int BK, int PAD, int LOADS>
__device__ __forceinline__ void stage_init(Stage<T, LOADS>& st, const T* base, int tid,
                                           long long x0, long long extent, long long stride_x,
                                           long long stride_k) {
    const bool k_fastest = stride_k == 1;
    const int xx = k_fastest ? tid / BK : tid % BX;
    st.kk = k_fastest ? tid % BK : tid / BX;
    st.x_step = k_fastest ? GEMM_THREADS / BK : 0;
    st.kk_step = k_fastest ? 0 : GEMM_THREADS / BX;
    st.slot = st.kk * (BX + PAD) + xx;
    st.x_left = extent - x0 - xx;
    st.src = st.x_left > 0 ? base + (x0 + xx) * stride_x + st.kk * stride_k : base;
    st.src_step = (long long)st.x_step * stride_x + (long long)st.kk_step * stride_k;
}

// Reads the slice starting at k0 into registers: zero outside the operand or past k_end.
template <typename T, int LOADS>
__device__ __forceinline__ void stage_read(Stage<T, LOADS>& st, long long k0, long long k_end,
                                           long long stride_k) {
    const T* src = st.src + k0 * stride_k;
    const long long k_left = k_end - k0 - st.kk;
    UNROLL
    for (int r = 0; r < LOADS; ++r) {
        const bool ok = (long long)r * st.x_step < st.x_left && (long long)r * st.kk_step < k_left;
        st.value[r] = ok ? src[r * st.src_step] : T(0);
    }
}

template <typename T, int BX, int PAD, int LOADS>
__device__ __forceinline__ void stage_write(const Stage<T, LOADS>& st, T* shared) {
    UNROLL
    for (int r = 0; r < LOADS; ++r) {
        shared[st.slot + r * (st.x_step + st.kk_step * (BX + PAD))] = st.value[r];
    }
}

// The i-th of a thread's T_ rows (or columns) in a tile of B_: two halves B_ / 2 apart when
// T_ >= 2, each a run of T_ / 2 neighbours (so that the reads of a run can be vectorized and a
// warp's runs are contiguous).
template <int B_, int T_>
__device__ __forceinline__ int micro_index(int thread, int i) {
    const int halves = T_ >= 2 ? 2 : 1;
    const int run = T_ / halves;
    return (i / run) * (B_ / halves) + thread * run + i % run;
}

// The tile of C that linear tile index t covers: tiles go down columns in groups of GROUP tile
// rows, so that blocks running together share rows of A and columns of B in the L2 cache.
__device__ __forceinline__ void tile_coordinates(long long t, long long tiles_m,
                                                 long long tiles_n, long long* tm,
                                                 long long* tn) {
    const long long GROUP = 8;
    long long per_group = GROUP * tiles_n;
    long long first = t / per_group * GROUP;
    long long rows = tiles_m - first < GROUP ? tiles_m - first : GROUP;
    long long within = t % per_group;
    *tm = first + within % rows;
    *tn = within / rows;
}

template <typename T, int BM, int BN, int BK, int TM, int TN, int PAD>
__device__ __forceinline__ void gemm_tiles(const T* a, const T* b, T* c, const GemmShape& s,
                                           T* a_shared, T* b_shared) {
    static_assert((BM / TM) * (BN / TN) == GEMM_THREADS, "one micro-tile per thread");
    static_assert(GEMM_THREADS % BK == 0 && GEMM_THREADS % BM == 0 && GEMM_THREADS % BN == 0,
                  "a thread's staged elements lie one step apart along x or along k");
    static_assert(BM * BK % GEMM_THREADS == 0 && BN * BK % GEMM_THREADS == 0,
                  "every thread stages as many elements");
    const int TX = BN / TN;
    const int LOADS_A = BM * BK / GEMM_THREADS;
    const int LOADS_B = BN * BK / GEMM_THREADS;
    const int A_SLICE = BK * (BM + PAD);
    const int B_SLICE = BK * (BN + PAD);
    const int tid = threadIdx.x;
    const int tx = tid % TX;
    const int ty = tid / TX;
    const long long tiles_m = (s.m + BM - 1) / BM;
    const long long tiles_n = (s.n + BN - 1) / BN;
    const long long tiles = tiles_m * tiles_n;
    const long long jobs = s.batch * s.splits;

    for (long long z = blockIdx.z; z < jobs; z += gridDim.z) {
        // Batch entries vary fastest, so that blocks running together read the same range of
        // k of a shared operand.
        const long long split = z / s.batch;
        const long long bi = z - split * s.batch;
        const long long k_begin = split * s.k_chunk;
        const long long k_end = k_begin + s.k_chunk < s.k ? k_begin + s.k_chunk : s.k;
        for (long long t = blockIdx.x; t < tiles; t += gridDim.x) {
            long long tm, tn;
            tile_coordinates(t, tiles_m, tiles_n, &tm, &tn);
            const long long m0 = tm * BM;
            const long long n0 = tn * BN;

            Stage<T, LOADS_A> sa;
            Stage<T, LOADS_B> sb;
            stage_init<T, BM, BK, PAD, LOADS_A>(sa, a + bi * s.a_batch, tid, m0, s.m, s.a_m,
                                                s.a_k);
            stage_init<T, BN, BK, PAD, LOADS_B>(sb, b + bi * s.b_batch, tid, n0, s.n, s.b_n,
                                                s.b_k);

            T acc[TM][TN];
            UNROLL
            for (int i = 0; i < TM; ++i) {
                UNROLL
                for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
            }

            const long long steps = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
            if (steps > 0) {
                stage_read(sa, k_begin, k_end, s.a_k);
                stage_read(sb, k_begin, k_end, s.b_k);
                stage_write<T, BM, PAD>(sa, a_shared);
                stage_write<T, BN, PAD>(sb, b_shared);
                __syncthreads();
            }
            for (long long step = 0; step < steps; ++step) {
                const int buf = (int)(step & 1);
                const bool more = step + 1 < steps;
                if (more) {
                    const long long k0 = k_begin + (step + 1) * BK;
                    stage_read(sa, k0, k_end, s.a_k);
                    stage_read(sb, k0, k_end, s.b_k);
                }
                const T* as = a_shared + buf * A_SLICE;
                const T* bs = b_shared + buf * B_SLICE;
                UNROLL
                for (int kk = 0; kk < BK; ++kk) {
                    T av[TM], bv[TN];
                    UNROLL
                    for (int i = 0; i < TM; ++i) {
                        av[i] = as[kk * (BM + PAD) + micro_index<BM, TM>(ty, i)];
                    }
                    UNROLL
                    for (int j = 0; j < TN; ++j) {
                        bv[j] = bs[kk * (BN + PAD) + micro_index<BN, TN>(tx, j)];
                    }
                    UNROLL
                    for (int i = 0; i < TM; ++i) {
                        UNROLL
                        for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
                    }
                }
                if (more) {
                    // The other buffer was last read before the previous barrier.
                    stage_write<T, BM, PAD>(sa, a_shared + (1 - buf) * A_SLICE);
                    stage_write<T, BN, PAD>(sb, b_shared + (1 - buf) * B_SLICE);
                }
                __syncthreads();
            }

            T* out = c + z * s.m * s.n;
            UNROLL
            for (int i = 0; i < TM; ++i) {
                const long long row = m0 + micro_index<BM, TM>(ty, i);
                if (row >= s.m) continue;
                UNROLL
                for (int j = 0; j < TN; ++j) {
                    const long long col = n0 + micro_index<BN, TN>(tx, j);
                    if (col < s.n) out[row * s.n + col] = acc[i][j];
                }
            }
        }
    }
}

// gemm_<tile>_<type>: one tile configuration (BM, BN, BK, TM, TN, PAD) for one element type.
// The shared blocks are padded by PAD elements per row (a multiple of 16 bytes) to spread
// the transposing stores over the banks.
#define GEMM(NAME, T, BM, BN, BK, TM, TN, PAD)                                              \
    extern "C" __global__ void GEMM_BOUNDS NAME(const T* a, const T* b, T* c, GemmShape s) {\
        alignas(16) __shared__ T a_shared[2 * BK * (BM + PAD)];                              \
        alignas(16) __shared__ T b_shared[2 * BK * (BN + PAD)];                              \
        gemm_tiles<T, BM, BN, BK, TM, TN, PAD>(a, b, c, s, a_shared, b_shared);             \
    }

// The tiles of matmul.rs's `Tile`: large (128 x 128 for f32, 64 x 64 for f64), medium
// (64 x 64), small (32 x 32), narrow (64 x 16) and wide (16 x 64).
GEMM(gemm_large_f32, float, 128, 128, 8, 8, 8, 4)
GEMM(gemm_large_f64, double, 64, 64, 8, 4, 4, 2)
GEMM(gemm_medium_f32, float, 64, 64, 16, 4, 4, 4)
GEMM(gemm_medium_f64, double, 64, 64, 16, 4, 4, 2)
GEMM(gemm_small_f32, float, 32, 32, 16, 2, 2, 4)
GEMM(gemm_small_f64, double, 32, 32, 16, 2, 2, 2)
GEMM(gemm_narrow_f32, float, 64, 16, 16, 4, 1, 4)
GEMM(gemm_narrow_f64, double, 64, 16, 16, 4, 1, 2)
GEMM(gemm_wide_f32, float, 16, 64, 16, 1, 4, 4)
GEMM(gemm_wide_f64, double, 16, 64, 16, 1, 4, 2)

// out[i] = sum over s = 0, 1, ..., splits - 1 of parts[s * n + i], in that order.
#define SPLITK_SUM(NAME, T)                                                                  \
    extern "C" __global__ void NAME(T* out, const T* parts, long long n, long long splits) { \
        GRID_STRIDE_LOOP(i, n) {                                                             \
            T sum = parts[i];                                                                \
            for (long long s = 1; s < splits; ++s) sum += parts[s * n + i];                  \
            out[i] = sum;                                                                    \
        }                                                                                    \
    }
SPLITK_SUM(splitk_sum_f32, float)
SPLITK_SUM(splitk_sum_f64, double)
