// Layout copies: every layout op is a gather (out[i] = x[view(i)]) or a scatter
// (out[view(i)] = x[i]) through a strided view; values are copied unchanged.
#include "common.cuh"

template <typename T, typename I>
__device__ __forceinline__ void gather_loop(T* out, const T* x, const Strided& view, long long n) {
    GRID_STRIDE_LOOP(i, n) { out[i] = x[strided_offset_as<I>(view, (I)i)]; }
}

template <typename T, typename I>
__device__ __forceinline__ void scatter_loop(T* out, const T* x, const Strided& view, long long n) {
    GRID_STRIDE_LOOP(i, n) { out[strided_offset_as<I>(view, (I)i)] = x[i]; }
}

// out[i] = x[view(i)] for the n row-major indices of the view.
#define GATHER(NAME, T)                                                           \
    extern "C" __global__ void NAME(T* out, const T* x, Strided view, long long n) { \
        if (fits_u32(n)) {                                                        \
            gather_loop<T, unsigned int>(out, x, view, n);                        \
        } else {                                                                  \
            gather_loop<T, unsigned long long>(out, x, view, n);                  \
        }                                                                         \
    }
GATHER(gather_f32, float)
GATHER(gather_f64, double)

// out[view(i)] = x[i] for the n row-major indices of the view; the view addresses each
// element of out at most once.
#define SCATTER(NAME, T)                                                          \
    extern "C" __global__ void NAME(T* out, const T* x, Strided view, long long n) { \
        if (fits_u32(n)) {                                                        \
            scatter_loop<T, unsigned int>(out, x, view, n);                       \
        } else {                                                                  \
            scatter_loop<T, unsigned long long>(out, x, view, n);                 \
        }                                                                         \
    }
SCATTER(scatter_f32, float)
SCATTER(scatter_f64, double)
