// A pool of OS threads that stays alive between launches. A job of `count` items runs each item on
// its own thread at the same time, which is what a CUDA block needs (its threads meet at barriers).
#pragma once

namespace medclip_emu {

using PoolJob = void (*)(void* context, unsigned index);

constexpr unsigned kMaxPoolJob = 1024;

// Runs job(context, i) for every i < count (count <= kMaxPoolJob), each on a different pool thread,
// and returns when all have returned. One job at a time: concurrent callers queue up.
void run_on_pool(unsigned count, PoolJob job, void* context);

}  // namespace medclip_emu
