// Waiting on a 32-bit word with the Linux futex call: unlike std::atomic::notify_*, a wake can be
// limited to the number of threads that have work to do.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

namespace medclip_emu {

// Returns once `word` no longer holds `expected` (possibly spuriously earlier; callers loop).
inline void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

inline void futex_wake(std::atomic<uint32_t>& word, int count = INT_MAX) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

inline void wait_while_equal(std::atomic<uint32_t>& word, uint32_t value) {
    while (word.load(std::memory_order_acquire) == value) futex_wait(word, value);
}

}  // namespace medclip_emu
