#include "kernel_launch.h"

#include <sched.h>
#include <sys/mman.h>

#include <atomic>
#include <climits>
#include <csignal>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda_api.h"
#include "fault_guard.h"
#include "futex.h"
#include "worker_pool.h"

namespace medclip_emu {
namespace {

// The barrier bookkeeping holds its lock for a few dozen instructions. A sleeping mutex would put
// every contending thread through the scheduler once more per barrier; spinning (and yielding the
// core when the holder does not finish soon) is several times faster with hundreds of threads.
class SpinLock {
public:
    void lock() {
        for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
            while (locked_.load(std::memory_order_relaxed)) {
                if (++spins < 64)
                    __builtin_ia32_pause();
                else
                    sched_yield();
            }
        }
    }
    void unlock() { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

struct Launch;

struct ThreadState {
    ThreadEnv env;  // first member: the runtime callbacks get back here from the ThreadEnv pointer
    Launch* launch;
    unsigned warp;
};

// A barrier's waiters sleep on `generation`; whoever completes the barrier bumps it. Threads that
// have returned from the kernel leave every barrier (as on Volta and later), so early returns work.
struct WarpState {
    unsigned live = 0, arrived = 0, waiters = 0, mask = 0;
    std::atomic<uint32_t> generation{0};
    unsigned long long slots[2][32] = {};  // double-buffered by generation parity
};

struct Launch {
    KernelLauncher launcher;
    void** params;
    Index3 grid, block;
    unsigned threads;
    std::vector<ThreadState> states;
    std::unique_ptr<WarpState[]> warps;
    unsigned warp_count;

    SpinLock mutex;  // guards the counters below, for the block barrier and all warps
    unsigned expected = 0, arrived = 0, block_waiters = 0;
    unsigned waiting = 0;   // threads asleep in a barrier that has not been released
    unsigned finished = 0;  // threads that returned from the kernel in the current block
    std::atomic<uint32_t> block_generation{0};
    std::atomic<bool> deadlocked{false};
    std::atomic<uint32_t> blocks_done{0};
    std::atomic<int> error{CUDA_SUCCESS};
    bool stopped = false;  // set at a block boundary once a thread failed: the later blocks do not run
};

unsigned lanes_of_warp(const Launch& launch, unsigned warp) {
    const unsigned count = std::min(32u, launch.threads - 32 * warp);
    return count == 32 ? 0xffffffffu : (1u << count) - 1;
}

void reset_block(Launch& launch) {
    launch.expected = launch.threads;
    launch.arrived = launch.block_waiters = launch.waiting = launch.finished = 0;
    launch.deadlocked.store(false, std::memory_order_relaxed);
    for (unsigned w = 0; w < launch.warp_count; ++w) {
        WarpState& warp = launch.warps[w];
        warp.live = lanes_of_warp(launch, w);
        warp.arrived = warp.waiters = warp.mask = 0;
    }
}

// The release functions move a barrier to its next generation and return the word its sleepers
// wait on. Callers wake them only after unlocking: woken threads would otherwise queue up at once
// on the mutex that the releasing thread still holds.
std::atomic<uint32_t>* release_block_barrier(Launch& launch) {
    launch.waiting -= launch.block_waiters;
    launch.block_waiters = launch.arrived = 0;
    launch.block_generation.fetch_add(1, std::memory_order_release);
    return &launch.block_generation;
}

std::atomic<uint32_t>* release_warp(Launch& launch, WarpState& warp) {
    launch.waiting -= warp.waiters;
    warp.waiters = warp.arrived = warp.mask = 0;
    warp.generation.fetch_add(1, std::memory_order_release);
    return &warp.generation;
}

bool warp_complete(const WarpState& warp) {
    return warp.arrived > 0 && warp.arrived >= unsigned(__builtin_popcount(warp.mask & warp.live));
}

// Every thread still running sleeps in an unreleased barrier: nothing can release them any more.
void check_deadlock(Launch& launch) {
    if (launch.waiting == 0 || launch.waiting != launch.threads - launch.finished) return;
    launch.deadlocked.store(true, std::memory_order_release);
    launch.block_generation.fetch_add(1, std::memory_order_release);
    futex_wake(launch.block_generation);
    for (unsigned w = 0; w < launch.warp_count; ++w) {
        launch.warps[w].generation.fetch_add(1, std::memory_order_release);
        futex_wake(launch.warps[w].generation);
    }
}

// Sleeps until `generation` moves on; leaves the kernel when the block was found deadlocked.
void sleep_in_barrier(Launch& launch, std::unique_lock<SpinLock>& lock, std::atomic<uint32_t>& generation) {
    const uint32_t seen = generation.load(std::memory_order_relaxed);
    ++launch.waiting;
    check_deadlock(launch);
    lock.unlock();
    wait_while_equal(generation, seen);
    if (launch.deadlocked.load(std::memory_order_acquire)) abort_guarded();
}

void sync_block(const ThreadEnv* env) {
    Launch& launch = *reinterpret_cast<const ThreadState*>(env)->launch;
    std::unique_lock<SpinLock> lock(launch.mutex);
    if (launch.deadlocked.load(std::memory_order_relaxed)) {
        lock.unlock();
        abort_guarded();
    }
    if (++launch.arrived >= launch.expected) {
        std::atomic<uint32_t>* sleepers = release_block_barrier(launch);
        lock.unlock();
        futex_wake(*sleepers);
        return;
    }
    ++launch.block_waiters;
    sleep_in_barrier(launch, lock, launch.block_generation);
}

const unsigned long long* warp_exchange(const ThreadEnv* env, unsigned mask, unsigned long long value) {
    const ThreadState& state = *reinterpret_cast<const ThreadState*>(env);
    Launch& launch = *state.launch;
    WarpState& warp = launch.warps[state.warp];
    std::unique_lock<SpinLock> lock(launch.mutex);
    if (launch.deadlocked.load(std::memory_order_relaxed)) {
        lock.unlock();
        abort_guarded();
    }
    unsigned long long* slots = warp.slots[warp.generation.load(std::memory_order_relaxed) & 1];
    slots[env->lane] = value;
    warp.mask |= mask | (1u << env->lane);
    ++warp.arrived;
    if (warp_complete(warp)) {
        std::atomic<uint32_t>* sleepers = release_warp(launch, warp);
        lock.unlock();
        futex_wake(*sleepers);
        return slots;
    }
    ++warp.waiters;
    sleep_in_barrier(launch, lock, warp.generation);
    return slots;
}

const Runtime kRuntime = {sync_block, warp_exchange};

// The thread left the kernel (returned or faulted): it leaves the barriers, then waits for the rest
// of the block, and the last thread prepares the next block.
void finish_block(Launch& launch, ThreadState& state, bool last_block) {
    std::unique_lock<SpinLock> lock(launch.mutex);
    const uint32_t round = launch.blocks_done.load(std::memory_order_relaxed);
    ++launch.finished;
    --launch.expected;
    WarpState& warp = launch.warps[state.warp];
    warp.live &= ~(1u << state.env.lane);
    std::atomic<uint32_t>* sleepers[2] = {nullptr, nullptr};
    if (launch.arrived > 0 && launch.arrived >= launch.expected) sleepers[0] = release_block_barrier(launch);
    if (warp_complete(warp)) sleepers[1] = release_warp(launch, warp);
    if (launch.finished == launch.threads) {
        reset_block(launch);
        launch.stopped = launch.error.load(std::memory_order_relaxed) != CUDA_SUCCESS;
        launch.blocks_done.fetch_add(1, std::memory_order_release);
        lock.unlock();
        futex_wake(launch.blocks_done);
        return;
    }
    check_deadlock(launch);
    lock.unlock();
    for (std::atomic<uint32_t>* word : sleepers)
        if (word) futex_wake(*word);
    if (last_block) return;  // nothing follows: the pool's own count tells the launcher when all are done
    wait_while_equal(launch.blocks_done, round);
}

void call_kernel(void* argument) {
    ThreadState& state = *static_cast<ThreadState*>(argument);
    state.launch->launcher(&state.env, state.launch->params);
}

int error_for(int guard_code) {
    if (guard_code == kGuardAborted) return CUDA_ERROR_LAUNCH_FAILED;
    if (guard_code == SIGFPE) return CUDA_ERROR_ILLEGAL_INSTRUCTION;
    return CUDA_ERROR_ILLEGAL_ADDRESS;
}

void run_thread(void* context, unsigned index) {
    Launch& launch = *static_cast<Launch*>(context);
    ThreadState& state = launch.states[index];
    const unsigned long long blocks = (unsigned long long)launch.grid.x * launch.grid.y * launch.grid.z;
    for (unsigned long long b = 0; b < blocks; ++b) {
        if (launch.stopped) return;
        state.env.block_idx = {unsigned(b % launch.grid.x), unsigned(b / launch.grid.x % launch.grid.y),
                               unsigned(b / launch.grid.x / launch.grid.y)};
        if (const int code = run_guarded(call_kernel, &state)) {
            int expected = CUDA_SUCCESS;
            launch.error.compare_exchange_strong(expected, error_for(code));
        }
        finish_block(launch, state, b + 1 == blocks);
    }
}

// Dynamic shared memory: one buffer for all launches, its end against a guard page like device memory.
char* dynamic_shared_end() {
    static char* end = [] {
        const size_t page = 4096, bytes = (kMaxDynamicSharedBytes + page - 1) / page * page;
        char* base = static_cast<char*>(
            mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (base == MAP_FAILED) return static_cast<char*>(nullptr);
        mprotect(base + bytes, page, PROT_NONE);
        return base + bytes;
    }();
    return end;
}

std::mutex launch_mutex;

}  // namespace

int launch_kernel(KernelLauncher launcher, Index3 grid, Index3 block, size_t dynamic_shared_bytes, void** params) {
    std::lock_guard<std::mutex> serial(launch_mutex);
    char* shared_end = dynamic_shared_end();
    if (!shared_end) return CUDA_ERROR_OUT_OF_MEMORY;
    Launch launch;
    launch.launcher = launcher;
    launch.params = params;
    launch.grid = grid;
    launch.block = block;
    launch.threads = block.x * block.y * block.z;
    launch.warp_count = (launch.threads + 31) / 32;
    launch.warps = std::make_unique<WarpState[]>(launch.warp_count);
    launch.states.resize(launch.threads);
    void* shared = shared_end - (dynamic_shared_bytes + 15) / 16 * 16;
    for (unsigned i = 0; i < launch.threads; ++i) {
        ThreadState& state = launch.states[i];
        state.env.thread_idx = {i % block.x, i / block.x % block.y, i / block.x / block.y};
        state.env.block_dim = block;
        state.env.grid_dim = grid;
        state.env.dynamic_shared = shared;
        state.env.lane = i % 32;
        state.env.warp_lanes = lanes_of_warp(launch, i / 32);
        state.env.runtime = &kRuntime;
        state.launch = &launch;
        state.warp = i / 32;
    }
    reset_block(launch);
    run_on_pool(launch.threads, run_thread, &launch);
    return launch.error.load();
}

}  // namespace medclip_emu
