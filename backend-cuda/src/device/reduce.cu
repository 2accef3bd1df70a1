// Reductions over axes: sums (and means), maxima and minima, in an order fixed by the sizes.
//
// A reduction is two index spaces over the input (see reduce.rs): the outputs o, each at the
// element `outer(o)`, and the reduced indices r, each `red(r)` away from it. A block of
// REDUCE_THREADS threads handles REDUCE_THREADS / lanes outputs at a time with `lanes` threads
// each; thread `lane` of an output folds r = first + lane, first + lane + lanes, ... in turn,
// then the lanes are combined by a fixed pairwise tree in shared memory. The range of r may be
// cut into `splits` chunks of `chunk` indices (gridDim.y = splits), each giving one partial
// result, out[o * splits + split], which a second launch reduces. Nothing depends on timing.
#include "common.cuh"

// Threads per block: every launch of this file uses exactly this many.
#define REDUCE_THREADS 256

#define REDUCE_SUM 0
#define REDUCE_MAX 1
#define REDUCE_MIN 2

// The start of a fold: 0, -inf or +inf.
template <int OP, typename T>
__device__ __forceinline__ T reduce_identity() {
    if (OP == REDUCE_SUM) return T(0);
    if (OP == REDUCE_MAX) return T(-HUGE_VAL);
    return T(HUGE_VAL);
}

// One step of a fold; Max and Min give NaN when either side is NaN.
template <int OP, typename T>
__device__ __forceinline__ T reduce_combine(T a, T b) {
    if (OP == REDUCE_SUM) return a + b;
    if (a != a) return a;
    if (b != b) return b;
    if (OP == REDUCE_MAX) return a >= b ? a : b;
    return a <= b ? a : b;
}

// The offsets red(first), red(first + step), ... of a strided view, by additions only: the
// mixed-radix digits of the index advance by those of the step, carrying; the first digit is
// unbounded, so that any index below the view's size is reached exactly.
struct StridedWalk {
    long long offset;
    long long digit[MAX_RANK];
    long long step[MAX_RANK];
};

__device__ __forceinline__ void walk_start(const Strided& v, long long first, long long step,
                                           StridedWalk& w) {
    w.offset = v.offset;
    for (int k = v.rank - 1; k >= 0; --k) {
        long long fd = first;
        long long sd = step;
        if (k > 0) {
            long long d = v.dims[k];
            fd = first % d;
            sd = step % d;
            first /= d;
            step /= d;
        }
        w.digit[k] = fd;
        w.step[k] = sd;
        w.offset += fd * v.strides[k];
    }
}

__device__ __forceinline__ void walk_advance(const Strided& v, StridedWalk& w) {
    long long carry = 0;
    for (int k = v.rank - 1; k >= 0; --k) {
        long long d = w.digit[k] + w.step[k] + carry;
        carry = 0;
        if (k > 0 && d >= v.dims[k]) {
            d -= v.dims[k];
            carry = 1;
        }
        w.offset += (d - w.digit[k]) * v.strides[k];
        w.digit[k] = d;
    }
}

// The fold of this thread's share of r in [r0, r1) for the input element at `base`.
template <int OP, typename T>
__device__ __forceinline__ T reduce_thread(const T* x, long long base, const Strided& red,
                                           long long r0, long long r1, int lanes) {
    T acc = reduce_identity<OP, T>();
    if (r0 >= r1) return acc;
    if (red.rank <= 1) {
        long long stride = red.rank == 1 ? red.strides[0] : 0;
        const T* p = x + base + red.offset;
        for (long long r = r0; r < r1; r += lanes) acc = reduce_combine<OP, T>(acc, p[r * stride]);
        return acc;
    }
    StridedWalk w;
    walk_start(red, r0, lanes, w);
    for (long long r = r0; r < r1; r += lanes) {
        acc = reduce_combine<OP, T>(acc, x[base + w.offset]);
        walk_advance(red, w);
    }
    return acc;
}

// The whole kernel; `partial` is the block's shared array of REDUCE_THREADS values. Thread t
// serves output lane o_lane and reduction lane r_lane: r_lane = t % lanes when `r_fastest`
// (consecutive threads read consecutive r: the reduced elements are contiguous), else
// t / groups (consecutive threads read consecutive outputs). Sums are divided by `divisor` in
// double precision before the final rounding (1 for a sum, the count for a mean).
template <int OP, typename T>
__device__ __forceinline__ void reduce_block(T* out, const T* x, const Strided& outer,
                                             const Strided& red, long long n_out,
                                             long long n_red, long long chunk, long long splits,
                                             int lanes, int r_fastest, double divisor,
                                             T* partial) {
    const int t = threadIdx.x;
    const int groups = REDUCE_THREADS / lanes;
    const int r_lane = r_fastest ? t % lanes : t / groups;
    const int o_lane = r_fastest ? t / lanes : t % groups;
    const int r_pitch = r_fastest ? 1 : groups;
    const long long r0 = (long long)blockIdx.y * chunk;
    const long long r1 = n_red - r0 < chunk ? n_red : r0 + chunk;
    for (long long g = blockIdx.x; g * groups < n_out; g += gridDim.x) {
        const long long o = g * groups + o_lane;
        T acc = reduce_identity<OP, T>();
        if (o < n_out) {
            acc = reduce_thread<OP, T>(x, strided_offset(outer, o), red, r0 + r_lane, r1, lanes);
        }
        partial[t] = acc;
        __syncthreads();
        for (int s = lanes / 2; s > 0; s /= 2) {
            if (r_lane < s) {
                partial[t] = reduce_combine<OP, T>(partial[t], partial[t + s * r_pitch]);
            }
            __syncthreads();
        }
        if (r_lane == 0 && o < n_out) {
            T v = partial[t];
            if (OP == REDUCE_SUM) v = T((double)v / divisor);
            out[o * splits + blockIdx.y] = v;
        }
    }
}

#define REDUCE_KERNEL(NAME, OP, T)                                                        \
    extern "C" __global__ void NAME(T* out, const T* x, Strided outer, Strided red,       \
                                    long long n_out, long long n_red, long long chunk,    \
                                    long long splits, int lanes, int r_fastest,           \
                                    double divisor) {                                     \
        __shared__ T partial[REDUCE_THREADS];                                             \
        reduce_block<OP, T>(out, x, outer, red, n_out, n_red, chunk, splits, lanes,       \
                            r_fastest, divisor, partial);                                 \
    }
REDUCE_KERNEL(reduce_sum_f32, REDUCE_SUM, float)
REDUCE_KERNEL(reduce_sum_f64, REDUCE_SUM, double)
REDUCE_KERNEL(reduce_max_f32, REDUCE_MAX, float)
REDUCE_KERNEL(reduce_max_f64, REDUCE_MAX, double)
REDUCE_KERNEL(reduce_min_f32, REDUCE_MIN, float)
REDUCE_KERNEL(reduce_min_f64, REDUCE_MIN, double)
