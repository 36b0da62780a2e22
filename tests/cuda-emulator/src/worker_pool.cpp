#include "worker_pool.h"

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "fault_guard.h"
#include "futex.h"

namespace medclip_emu {
namespace {

// The job word packs generation (high 32 bits), item count (16 bits) and next unclaimed item
// (16 bits), so a thread claims an item of exactly the job it saw, in one compare-exchange.
struct Pool {
    std::mutex run_mutex;
    unsigned threads = 0;
    std::atomic<uint64_t> job_word{0};
    std::atomic<uint32_t> generation{0};  // futex word the idle threads sleep on
    std::atomic<uint32_t> remaining{0};   // items not yet finished; the caller sleeps on it
    PoolJob job = nullptr;
    void* context = nullptr;
};

Pool& pool() {
    static Pool* instance = new Pool();  // never destroyed: its threads outlive static destruction
    return *instance;
}

// Claims the next item of the job in generation `generation`; false when none is left or a newer
// job has been published.
bool claim(Pool& p, uint32_t generation, unsigned& index) {
    uint64_t word = p.job_word.load(std::memory_order_acquire);
    for (;;) {
        if (uint32_t(word >> 32) != generation) return false;
        const unsigned count = unsigned(word >> 16) & 0xffff, next = unsigned(word) & 0xffff;
        if (next >= count) return false;
        if (p.job_word.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel)) {
            index = next;
            return true;
        }
    }
}

void* worker_main(void* argument) {
    Pool& p = *static_cast<Pool*>(argument);
    install_alternate_signal_stack();
    uint32_t seen = 0;
    for (;;) {
        wait_while_equal(p.generation, seen);
        seen = p.generation.load(std::memory_order_acquire);
        unsigned index;
        if (!claim(p, seen, index)) continue;
        p.job(p.context, index);
        if (p.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) futex_wake(p.remaining, 1);
    }
    return nullptr;
}

void grow(Pool& p, unsigned wanted) {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, 1 << 20);
    while (p.threads < wanted) {
        pthread_t thread;
        if (pthread_create(&thread, &attributes, worker_main, &p) != 0) {
            std::fprintf(stderr, "medclip cuda emulator: cannot start worker thread %u\n", p.threads);
            std::abort();
        }
        pthread_detach(thread);
        ++p.threads;
    }
    pthread_attr_destroy(&attributes);
}

}  // namespace

void run_on_pool(unsigned count, PoolJob job, void* context) {
    if (count == 0) return;
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.run_mutex);
    grow(p, count);
    p.job = job;
    p.context = context;
    p.remaining.store(count, std::memory_order_relaxed);
    const uint32_t generation = p.generation.load(std::memory_order_relaxed) + 1;
    p.job_word.store((uint64_t(generation) << 32) | (uint64_t(count) << 16), std::memory_order_release);
    p.generation.store(generation, std::memory_order_release);
    futex_wake(p.generation, int(count));
    for (uint32_t left; (left = p.remaining.load(std::memory_order_acquire)) != 0;) futex_wait(p.remaining, left);
}

}  // namespace medclip_emu

