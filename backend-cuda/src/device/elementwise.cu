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

// The math library for both element types, one name per function.
#define MATH1(NAME, F32, F64)                                                     \
    __device__ __forceinline__ float NAME(float x) { return F32(x); }             \
    __device__ __forceinline__ double NAME(double x) { return F64(x); }
MATH1(m_abs, fabsf, fabs)
MATH1(m_exp, expf, exp)
MATH1(m_log, logf, log)
MATH1(m_sqrt, sqrtf, sqrt)
MATH1(m_sin, sinf, sin)
MATH1(m_cos, cosf, cos)
MATH1(m_tanh, tanhf, tanh)
MATH1(m_erf, erff, erf)
__device__ __forceinline__ float m_pow(float x, float p) { return powf(x, p); }
__device__ __forceinline__ double m_pow(double x, double p) { return pow(x, p); }

// The codes of the unary ops, as elementwise.rs passes them (its test reads this list).
enum UnaryCode {
    UNARY_NEG = 0,
    UNARY_ABS = 1,
    UNARY_SIGN = 2,
    UNARY_EXP = 3,
    UNARY_LOG = 4,
    UNARY_SQRT = 5,
    UNARY_RECIP = 6,
    UNARY_SQUARE = 7,
    UNARY_SIN = 8,
    UNARY_COS = 9,
    UNARY_TANH = 10,
    UNARY_ERF = 11,
    UNARY_SIGMOID = 12,
    UNARY_RELU = 13,
    UNARY_STEP = 14,
    UNARY_GELU = 15,
    UNARY_GELU_GRAD = 16,
    UNARY_SILU = 17,
    UNARY_SILU_GRAD = 18,
    UNARY_AFFINE = 19,
    UNARY_POWF = 20,
};

// The logistic function in a form that neither overflows nor loses the small tail; NaN takes
// the second branch and stays NaN.
template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
    if (x >= T(0)) return T(1) / (T(1) + m_exp(-x));
    T e = m_exp(x);
    return e / (T(1) + e);
}

// Unary op OP at x; a and b are its parameters (Affine: scale and shift; Powf: p), already
// rounded to T. NaN is tested as x != x.
template <typename T, int OP>
__device__ __forceinline__ T unary_op(T x, T a, T b) {
    const T zero = T(0), one = T(1), half = T(0.5);
    switch (OP) {
    case UNARY_NEG: return -x;
    case UNARY_ABS: return m_abs(x);
    case UNARY_SIGN: return x > zero ? one : x < zero ? -one : x == zero ? zero : x;
    case UNARY_EXP: return m_exp(x);
    case UNARY_LOG: return m_log(x);
    case UNARY_SQRT: return m_sqrt(x);
    case UNARY_RECIP: return one / x;
    case UNARY_SQUARE: return x * x;
    case UNARY_SIN: return m_sin(x);
    case UNARY_COS: return m_cos(x);
    case UNARY_TANH: return m_tanh(x);
    case UNARY_ERF: return m_erf(x);
    case UNARY_SIGMOID: return sigmoid(x);
    case UNARY_RELU: return (x > zero || x != x) ? x : zero;
    case UNARY_STEP: return x > zero ? one : x != x ? x : zero;
    case UNARY_GELU: return half * x * (one + m_erf(x * T(0.70710678118654752440)));
    case UNARY_GELU_GRAD: {
        T cdf = half * (one + m_erf(x * T(0.70710678118654752440)));
        T pdf = m_exp(-(half * x * x)) * T(0.39894228040143267794);
        return cdf + x * pdf;
    }
    case UNARY_SILU: return x * sigmoid(x);
    case UNARY_SILU_GRAD: {
        T s = sigmoid(x);
        return s * (one + x * (one - s));
    }
    case UNARY_AFFINE: return a * x + b;
    case UNARY_POWF: return m_pow(x, a);
    }
    return x;
}

template <typename T, int OP>
__device__ __forceinline__ void unary_loop(T* out, const T* x, long long n, T a, T b) {
    GRID_STRIDE_LOOP(i, n) { out[i] = unary_op<T, OP>(x[i], a, b); }
}

// One loop per op, chosen once per thread.
template <typename T>
__device__ __forceinline__ void unary(T* out, const T* x, long long n, int op, T a, T b) {
    switch (op) {
#define UNARY_CASE(CODE)                                                          \
    case CODE: unary_loop<T, CODE>(out, x, n, a, b); break;
    UNARY_CASE(UNARY_NEG)
    UNARY_CASE(UNARY_ABS)
    UNARY_CASE(UNARY_SIGN)
    UNARY_CASE(UNARY_EXP)
    UNARY_CASE(UNARY_LOG)
    UNARY_CASE(UNARY_SQRT)
    UNARY_CASE(UNARY_RECIP)
    UNARY_CASE(UNARY_SQUARE)
    UNARY_CASE(UNARY_SIN)
    UNARY_CASE(UNARY_COS)
    UNARY_CASE(UNARY_TANH)
    UNARY_CASE(UNARY_ERF)
    UNARY_CASE(UNARY_SIGMOID)
    UNARY_CASE(UNARY_RELU)
    UNARY_CASE(UNARY_STEP)
    UNARY_CASE(UNARY_GELU)
    UNARY_CASE(UNARY_GELU_GRAD)
    UNARY_CASE(UNARY_SILU)
    UNARY_CASE(UNARY_SILU_GRAD)
    UNARY_CASE(UNARY_AFFINE)
    UNARY_CASE(UNARY_POWF)
#undef UNARY_CASE
    }
}

#define UNARY(NAME, T)                                                            \
    extern "C" __global__ void NAME(T* out, const T* x, long long n, int op, T a, T b) { \
        unary<T>(out, x, n, op, a, b);                                            \
    }
UNARY(unary_f32, float)
UNARY(unary_f64, double)

// The codes of the binary ops, as elementwise.rs passes them (its test reads this list).
enum BinaryCode {
    BINARY_ADD = 0,
    BINARY_SUB = 1,
    BINARY_MUL = 2,
    BINARY_DIV = 3,
    BINARY_MAXIMUM = 4,
    BINARY_MINIMUM = 5,
    BINARY_EQ = 6,
    BINARY_NE = 7,
    BINARY_LT = 8,
    BINARY_LE = 9,
    BINARY_GT = 10,
    BINARY_GE = 11,
};

// Binary op OP on a and b. Maximum and minimum are NaN when either operand is; comparisons
// give 1 or 0.
template <typename T, int OP>
__device__ __forceinline__ T binary_op(T a, T b) {
    const T zero = T(0), one = T(1);
    switch (OP) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    case BINARY_MAXIMUM: return (a != a || b != b) ? a + b : a >= b ? a : b;
    case BINARY_MINIMUM: return (a != a || b != b) ? a + b : a <= b ? a : b;
    case BINARY_EQ: return a == b ? one : zero;
    case BINARY_NE: return a != b ? one : zero;
    case BINARY_LT: return a < b ? one : zero;
    case BINARY_LE: return a <= b ? one : zero;
    case BINARY_GT: return a > b ? one : zero;
    case BINARY_GE: return a >= b ? one : zero;
    }
    return a;
}

// The offsets that row-major index i reads in views a and b, which share their dims (they are
// collapsed together): strided_offset_as for two views with one set of divisions.
template <typename I>
__device__ __forceinline__ void strided_offset_pair(const Strided& a, const Strided& b, I i,
                                                    long long& oa, long long& ob) {
    long long ra = a.offset, rb = b.offset;
    for (int k = MAX_RANK - 1; k > 0; --k) {
        if (k < a.rank) {
            I d = (I)a.dims[k];
            I q = i / d;
            long long r = (long long)(i - q * d);
            ra += r * a.strides[k];
            rb += r * b.strides[k];
            i = q;
        }
    }
    if (a.rank > 0) {
        ra += (long long)i * a.strides[0];
        rb += (long long)i * b.strides[0];
    }
    oa = ra;
    ob = rb;
}

// Operands read with a step of 1 (of the output's shape) or 0 (a scalar).
template <typename T, int OP>
__device__ __forceinline__ void binary_flat_loop(T* out, const T* a, long long a_step,
                                                 const T* b, long long b_step, long long n) {
    GRID_STRIDE_LOOP(i, n) { out[i] = binary_op<T, OP>(a[i * a_step], b[i * b_step]); }
}

// binary_op with the op chosen at run time: for the strided loop, whose index arithmetic
// costs far more than this branch (the same for every thread).
template <typename T>
__device__ __forceinline__ T binary_any(int op, T a, T b) {
    switch (op) {
    case BINARY_ADD: return binary_op<T, BINARY_ADD>(a, b);
    case BINARY_SUB: return binary_op<T, BINARY_SUB>(a, b);
    case BINARY_MUL: return binary_op<T, BINARY_MUL>(a, b);
    case BINARY_DIV: return binary_op<T, BINARY_DIV>(a, b);
    case BINARY_MAXIMUM: return binary_op<T, BINARY_MAXIMUM>(a, b);
    case BINARY_MINIMUM: return binary_op<T, BINARY_MINIMUM>(a, b);
    case BINARY_EQ: return binary_op<T, BINARY_EQ>(a, b);
    case BINARY_NE: return binary_op<T, BINARY_NE>(a, b);
    case BINARY_LT: return binary_op<T, BINARY_LT>(a, b);
    case BINARY_LE: return binary_op<T, BINARY_LE>(a, b);
    case BINARY_GT: return binary_op<T, BINARY_GT>(a, b);
    case BINARY_GE: return binary_op<T, BINARY_GE>(a, b);
    }
    return a;
}

template <typename T, typename I>
__device__ __forceinline__ void binary_strided_loop(T* out, const T* a, const Strided& va,
                                                    const T* b, const Strided& vb, long long n,
                                                    int op) {
    GRID_STRIDE_LOOP(i, n) {
        long long oa, ob;
        strided_offset_pair<I>(va, vb, (I)i, oa, ob);
        out[i] = binary_any<T>(op, a[oa], b[ob]);
    }
}

template <typename T>
__device__ __forceinline__ void binary_strided(T* out, const T* a, const Strided& va,
                                               const T* b, const Strided& vb, long long n,
                                               int op) {
    if (fits_u32(n)) {
        binary_strided_loop<T, unsigned int>(out, a, va, b, vb, n, op);
    } else {
        binary_strided_loop<T, unsigned long long>(out, a, va, b, vb, n, op);
    }
}

// One loop per op, chosen once per thread: the flat loop is bound by memory alone.
template <typename T>
__device__ __forceinline__ void binary_flat(T* out, const T* a, long long a_step, const T* b,
                                            long long b_step, long long n, int op) {
    switch (op) {
#define BINARY_CASE(CODE)                                                         \
    case CODE: binary_flat_loop<T, CODE>(out, a, a_step, b, b_step, n); break;
    BINARY_CASE(BINARY_ADD)
    BINARY_CASE(BINARY_SUB)
    BINARY_CASE(BINARY_MUL)
    BINARY_CASE(BINARY_DIV)
    BINARY_CASE(BINARY_MAXIMUM)
    BINARY_CASE(BINARY_MINIMUM)
    BINARY_CASE(BINARY_EQ)
    BINARY_CASE(BINARY_NE)
    BINARY_CASE(BINARY_LT)
    BINARY_CASE(BINARY_LE)
    BINARY_CASE(BINARY_GT)
    BINARY_CASE(BINARY_GE)
#undef BINARY_CASE
    }
}

// out[i] = a[i * a_step] op b[i * b_step], steps 0 or 1.
#define BINARY_FLAT(NAME, T)                                                      \
    extern "C" __global__ void NAME(T* out, const T* a, long long a_step, const T* b, \
                                    long long b_step, long long n, int op) {      \
        binary_flat<T>(out, a, a_step, b, b_step, n, op);                         \
    }
BINARY_FLAT(binary_flat_f32, float)
BINARY_FLAT(binary_flat_f64, double)

// out[i] = a[va(i)] op b[vb(i)], the views sharing their dims.
#define BINARY_STRIDED(NAME, T)                                                   \
    extern "C" __global__ void NAME(T* out, const T* a, Strided va, const T* b, Strided vb, \
                                    long long n, int op) {                        \
        binary_strided<T>(out, a, va, b, vb, n, op);                              \
    }
BINARY_STRIDED(binary_strided_f32, float)
BINARY_STRIDED(binary_strided_f64, double)
