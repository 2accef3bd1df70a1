// The CUDA C subset of the kernels, as C++ for the host: included before a kernel family's
// .cu file when the crate is built with the `emulate` feature. Every block's threads run as
// fibers on the launching thread; __syncthreads() switches to the next fiber, and a block
// resumes past a barrier only once all its threads have reached it. Shared memory is one
// static array per launching thread (blocks run one after another).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

struct dim3 {
    unsigned int x, y, z;
};
typedef dim3 uint3;

namespace dualscore_emulator {
extern thread_local dim3 thread_index;
extern thread_local dim3 block_index;
extern thread_local dim3 block_dim;
extern thread_local dim3 grid_dim;
void barrier();
}  // namespace dualscore_emulator

#define threadIdx (::dualscore_emulator::thread_index)
#define blockIdx (::dualscore_emulator::block_index)
#define blockDim (::dualscore_emulator::block_dim)
#define gridDim (::dualscore_emulator::grid_dim)

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __constant__ static const

inline void __syncthreads() { ::dualscore_emulator::barrier(); }

inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
inline float __double2float_rn(double x) { return (float)x; }
template <typename T>
inline T __ldg(const T* p) {
    return *p;
}

// CUDA's integer min and max (floating-point code uses fminf, fmaxf, fmin, fmax).
template <typename T>
inline T min(T a, T b) {
    return b < a ? b : a;
}
template <typename T>
inline T max(T a, T b) {
    return a < b ? b : a;
}

struct float2 {
    float x, y;
};
struct float4 {
    float x, y, z, w;
};
struct double2 {
    double x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

// The registry of a family's kernels: name and a call that unpacks cuLaunchKernel-style
// arguments (an array of pointers to the parameter values).
namespace dualscore_emulator {
typedef void (*Invoke)(void* kernel, void** args);
struct Kernel {
    const char* name;
    void* function;
    Invoke invoke;
};

template <typename T>
struct Strip {
    typedef T type;
};
template <typename T>
struct Strip<const T> {
    typedef T type;
};

template <typename... P, std::size_t... I>
void call(void (*kernel)(P...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<typename Strip<P>::type*>(args[I])...);
}

template <typename... P>
void invoke(void* kernel, void** args) {
    call(reinterpret_cast<void (*)(P...)>(kernel), args, std::index_sequence_for<P...>{});
}

template <typename... P>
Kernel kernel(const char* name, void (*function)(P...)) {
    return Kernel{name, reinterpret_cast<void*>(function), &invoke<P...>};
}
}  // namespace dualscore_emulator
