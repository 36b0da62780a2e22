// Runs a compiled kernel over a grid: blocks one after another, each block's threads at the same
// time on pool threads, with barriers, warp exchange and fault capture.
#pragma once

#include <cstddef>

#include "../prelude/emu_abi.h"

namespace medclip_emu {

constexpr size_t kMaxDynamicSharedBytes = 99 * 1024;

// Returns CUDA_SUCCESS, CUDA_ERROR_ILLEGAL_ADDRESS (a memory fault), CUDA_ERROR_ILLEGAL_INSTRUCTION
// (an arithmetic trap) or CUDA_ERROR_LAUNCH_FAILED (the block's threads wait on each other forever,
// e.g. a __syncthreads that only some threads reach). Dimensions must already be validated.
int launch_kernel(KernelLauncher launcher, Index3 grid, Index3 block, size_t dynamic_shared_bytes, void** params);

}  // namespace medclip_emu
