// The launch of an emulated kernel: blocks in order, each block's threads as fibers
// (ucontext) on the calling thread, with __syncthreads() as a barrier between fibers.
#include <ucontext.h>

#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "emulator.hpp"

namespace dualscore_emulator {
thread_local dim3 thread_index;
thread_local dim3 block_index;
thread_local dim3 block_dim;
thread_local dim3 grid_dim;

namespace {
const std::size_t STACK_BYTES = 256 * 1024;
const unsigned MAX_THREADS = 1024;

enum class State { Ready, AtBarrier, Done };

struct Fiber {
    ucontext_t context;
    std::vector<char> stack;
    State state;
    dim3 index;
};

struct Launch {
    Invoke invoke;
    void* kernel;
    void** args;
};

thread_local std::vector<Fiber> fibers;
thread_local ucontext_t scheduler;
thread_local std::size_t current;
thread_local const Launch* active;

void run_fiber() {
    active->invoke(active->kernel, active->args);
    fibers[current].state = State::Done;
    // Returning resumes `scheduler` through uc_link.
}
}  // namespace

void barrier() {
    Fiber& f = fibers[current];
    f.state = State::AtBarrier;
    swapcontext(&f.context, &scheduler);
}

// Runs one block; returns an error message or nullptr.
static const char* run_block(const Launch& launch, unsigned threads) {
    if (fibers.size() < threads) fibers.resize(threads);
    for (unsigned t = 0; t < threads; ++t) {
        Fiber& f = fibers[t];
        if (f.stack.size() < STACK_BYTES) f.stack.resize(STACK_BYTES);
        f.index = dim3{t % block_dim.x, (t / block_dim.x) % block_dim.y,
                       t / (block_dim.x * block_dim.y)};
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack.data();
        f.context.uc_stack.ss_size = f.stack.size();
        f.context.uc_link = &scheduler;
        makecontext(&f.context, run_fiber, 0);
        f.state = State::Ready;
    }
    active = &launch;
    for (;;) {
        unsigned waiting = 0, done = 0;
        for (unsigned t = 0; t < threads; ++t) {
            Fiber& f = fibers[t];
            if (f.state == State::Done) continue;
            f.state = State::Ready;
            current = t;
            thread_index = f.index;
            swapcontext(&scheduler, &f.context);
        }
        for (unsigned t = 0; t < threads; ++t) {
            if (fibers[t].state == State::Done) ++done;
            if (fibers[t].state == State::AtBarrier) ++waiting;
        }
        if (done == threads) return nullptr;
        if (done > 0) return "__syncthreads() was not reached by every thread of a block";
        (void)waiting;
    }
}
}  // namespace dualscore_emulator

using namespace dualscore_emulator;

extern "C" int dualscore_emulator_launch(const Kernel* kernel, const unsigned* grid,
                                         const unsigned* block, unsigned shared_bytes,
                                         void** args, char* error, std::size_t error_len) {
    auto fail = [&](const char* message) {
        std::snprintf(error, error_len, "%s: %s", kernel->name, message);
        return 1;
    };
    unsigned long long threads = (unsigned long long)block[0] * block[1] * block[2];
    if (threads == 0 || threads > MAX_THREADS) return fail("block size outside 1..=1024 threads");
    if (block[2] > 64) return fail("block z dimension above 64");
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return fail("empty grid");
    if (grid[1] > 65535 || grid[2] > 65535) return fail("grid y or z dimension above 65535");
    if (shared_bytes != 0) return fail("dynamic shared memory is not supported");
    grid_dim = dim3{grid[0], grid[1], grid[2]};
    block_dim = dim3{block[0], block[1], block[2]};
    Launch launch{kernel->invoke, kernel->function, args};
    for (unsigned z = 0; z < grid[2]; ++z)
        for (unsigned y = 0; y < grid[1]; ++y)
            for (unsigned x = 0; x < grid[0]; ++x) {
                block_index = dim3{x, y, z};
                if (const char* message = run_block(launch, (unsigned)threads))
                    return fail(message);
            }
    return 0;
}
