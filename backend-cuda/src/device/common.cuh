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

// strided_offset with the index arithmetic in the unsigned type I: unsigned int when the view
// has fewer than 2^32 elements (32-bit divisions are several times cheaper than 64-bit ones on
// the GPU), unsigned long long otherwise. The loop has a fixed trip count, so it unrolls and
// reads the view's fields at constant positions; the outermost axis needs no division.
template <typename I>
__device__ __forceinline__ long long strided_offset_as(const Strided& s, I i) {
    long long offset = s.offset;
    for (int k = MAX_RANK - 1; k > 0; --k) {
        if (k < s.rank) {
            I d = (I)s.dims[k];
            I q = i / d;
            offset += (long long)(i - q * d) * s.strides[k];
            i = q;
        }
    }
    if (s.rank > 0) offset += (long long)i * s.strides[0];
    return offset;
}

// Whether every row-major index below n fits the 32-bit arithmetic of strided_offset_as.
__device__ __forceinline__ bool fits_u32(long long n) { return n <= 0xffffffffLL; }
