// The binary interface between the emulator library and the kernel modules it compiles: a kernel
// thread sees its indices and the runtime (barriers, warp exchange) through a ThreadEnv, and a
// module lists its kernels in a ModuleTable. Plain structs only: both sides include this header.
#pragma once

namespace medclip_emu {

constexpr unsigned kAbiVersion = 1;

struct Index3 {
    unsigned int x, y, z;
};

struct ThreadEnv;

struct Runtime {
    // __syncthreads: returns when every live thread of the block has arrived.
    void (*sync_block)(const ThreadEnv* env);
    // Publishes `value` in this lane's slot and returns when the lanes named by `mask` have done the
    // same; the returned 32 slots stay readable until this lane's next exchange returns.
    const unsigned long long* (*warp_exchange)(const ThreadEnv* env, unsigned mask, unsigned long long value);
};

struct ThreadEnv {
    Index3 thread_idx, block_idx, block_dim, grid_dim;
    void* dynamic_shared;
    unsigned lane;        // linear thread index within the block, modulo 32
    unsigned warp_lanes;  // bit i set when lane i exists in this thread's warp
    const Runtime* runtime;
};

typedef void (*KernelLauncher)(const ThreadEnv* env, void** params);

struct KernelEntry {
    const char* name;
    KernelLauncher launch;
    int param_count;
};

struct ModuleTable {
    unsigned abi_version;
    int kernel_count;
    const KernelEntry* kernels;
};

}  // namespace medclip_emu

#define MEDCLIP_EMU_MODULE_TABLE_SYMBOL "medclip_emu_module_table"
