// Elementwise kernels: fill, cast, unary and binary ops (with NumPy broadcasting).
#include "common.cuh"

#define FILL(NAME, T)                                                             \
    extern "C" __global__ void NAME(T* out, long long n, T value) {               \
        GRID_STRIDE_LOOP(i, n) { out[i] = value; }                                \
    }
FILL(fill_f32, float)
FILL(fill_f64, double)

// Conversions round to nearest, as Rust's `as` does.
#define CAST(NAME, FROM, TO)                                                      \
    extern "C" __global__ void NAME(TO* out, const FROM* x, long long n) {        \
        GRID_STRIDE_LOOP(i, n) { out[i] = (TO)x[i]; }                             \
    }
CAST(cast_f32_f32, float, float)
CAST(cast_f32_f64, float, double)
CAST(cast_f64_f32, double, float)
CAST(cast_f64_f64, double, double)
