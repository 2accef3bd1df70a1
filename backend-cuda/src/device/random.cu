// Counter-based random numbers: the sequence of core/src/rng.rs, value i of a launch at index
// offset + i (mod 2^64) of the sequence (seed, stream).
#include "common.cuh"

// The sequence and the first index of a launch; the layout of `Counter` in random.rs.
struct Counter {
    unsigned int key[2];     // seed: low word, high word
    unsigned int stream[2];  // stream: low word, high word
    unsigned long long offset;
};

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// Philox4x32-10 of the counter (index low, index high, stream low, stream high) under the key.
__device__ __forceinline__ void philox4x32_10(const Counter& k, unsigned long long index,
                                              unsigned int w[4]) {
    unsigned int c0 = (unsigned int)index;
    unsigned int c1 = (unsigned int)(index >> 32);
    unsigned int c2 = k.stream[0];
    unsigned int c3 = k.stream[1];
    unsigned int k0 = k.key[0];
    unsigned int k1 = k.key[1];
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        unsigned int hi0 = __umulhi(PHILOX_M0, c0);
        unsigned int lo0 = PHILOX_M0 * c0;
        unsigned int hi1 = __umulhi(PHILOX_M1, c2);
        unsigned int lo1 = PHILOX_M1 * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    w[0] = c0;
    w[1] = c1;
    w[2] = c2;
    w[3] = c3;
}

// A number in [0, 1) from 53 bits of two words (exact in double).
__device__ __forceinline__ double unit_interval(unsigned int hi, unsigned int lo) {
    unsigned long long bits = ((unsigned long long)hi << 21) | (unsigned long long)(lo >> 11);
    return (double)bits * (1.0 / 9007199254740992.0);
}

// Rounds to float and keeps the result below 1 (1 - 2^-53 and its neighbours round to 1).
__device__ __forceinline__ float uniform_value(double u, float) {
    const float below_one = 0x1.fffffep-1f;  // 1 - eps/2, the largest float below 1
    float v = __double2float_rn(u);
    return v < below_one ? v : below_one;
}

__device__ __forceinline__ double uniform_value(double u, double) {
    const double below_one = 0x1.fffffffffffffp-1;  // 1 - eps/2
    return u < below_one ? u : below_one;
}

__device__ __forceinline__ float to_element(double v, float) { return __double2float_rn(v); }
__device__ __forceinline__ double to_element(double v, double) { return v; }

#define UNIFORM(NAME, T)                                                          \
    extern "C" __global__ void NAME(T* out, long long n, Counter k) {             \
        GRID_STRIDE_LOOP(i, n) {                                                  \
            unsigned int w[4];                                                    \
            philox4x32_10(k, k.offset + (unsigned long long)i, w);                \
            out[i] = uniform_value(unit_interval(w[0], w[1]), T(0));              \
        }                                                                         \
    }
UNIFORM(uniform_f32, float)
UNIFORM(uniform_f64, double)

// Box-Muller, cosine branch, in double: u1 in (0, 1] so that the logarithm is finite.
#define NORMAL(NAME, T)                                                           \
    extern "C" __global__ void NAME(T* out, long long n, Counter k) {             \
        GRID_STRIDE_LOOP(i, n) {                                                  \
            unsigned int w[4];                                                    \
            philox4x32_10(k, k.offset + (unsigned long long)i, w);                \
            double u1 = 1.0 - unit_interval(w[0], w[1]);                          \
            double u2 = unit_interval(w[2], w[3]);                                \
            double radius = sqrt(-2.0 * log(u1));                                 \
            double angle = (2.0 * 0x1.921fb54442d18p+1) * u2; /* as the host: (2 pi) u2 */ \
            out[i] = to_element(radius * cos(angle), T(0));                       \
        }                                                                         \
    }
NORMAL(normal_f32, float)
NORMAL(normal_f64, double)
