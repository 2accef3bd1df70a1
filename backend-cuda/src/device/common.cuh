// Shared by every kernel family: the strided view of strided.rs and the grid-stride loop.
#pragma once

#define MAX_RANK 8

// The element of a buffer that row-major index i of an output of shape dims reads:
// offset + sum_k idx_k(i) * strides[k]. The layout of `Strided` in strided.rs.
struct Strided {
    int rank;
    int pad;
    long long offset;
    long long dims[MAX_RANK];
    long long strides[MAX_RANK];
};

__device__ __forceinline__ long long strided_offset(const Strided& s, long long i) {
    long long offset = s.offset;
    for (int k = s.rank - 1; k >= 0; --k) {
        long long d = s.dims[k];
        long long q = i / d;
        offset += (i - q * d) * s.strides[k];
        i = q;
    }
    return offset;
}

// for (i = this thread's first item; i < n; i += all threads of the grid)
#define GRID_STRIDE_LOOP(i, n)                                                       \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)
