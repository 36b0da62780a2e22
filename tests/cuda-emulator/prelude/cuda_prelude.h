// The CUDA C kernel dialect as C++20, for kernels that the emulator compiles with g++ into a
// shared object. One OS thread runs each CUDA thread of a block and blocks run one after another,
// so `__shared__` can simply be `static`; everything a thread needs to know about itself comes
// from the ThreadEnv that the emulator hands to the kernel's launcher.
#pragma once

#include "emu_abi.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <atomic>
#include <type_traits>
#include <utility>

namespace medclip_emu {
static thread_local const ThreadEnv* env = nullptr;
}

typedef medclip_emu::Index3 uint3;
typedef medclip_emu::Index3 dim3;

#define threadIdx (::medclip_emu::env->thread_idx)
#define blockIdx (::medclip_emu::env->block_idx)
#define blockDim (::medclip_emu::env->block_dim)
#define gridDim (::medclip_emu::env->grid_dim)
static constexpr int warpSize = 32;

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

// ---- barriers and warp exchange ----

inline void __syncthreads() { ::medclip_emu::env->runtime->sync_block(::medclip_emu::env); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    ::medclip_emu::env->runtime->warp_exchange(::medclip_emu::env, mask, 0);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline unsigned __activemask() { return ::medclip_emu::env->warp_lanes; }

namespace medclip_emu {
// Every lane of `mask` publishes its value; returns the value of lane `source`, or the caller's own
// value when `keep_own` is set or that lane does not exist (as the hardware does).
template <class T>
inline T shuffle_from(unsigned mask, T value, int source, bool keep_own) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of a type wider than 8 bytes");
    unsigned long long bits = 0;
    memcpy(&bits, &value, sizeof(T));
    const unsigned long long* slots = env->runtime->warp_exchange(env, mask, bits);
    if (keep_own || source < 0 || source >= 32 || !((env->warp_lanes >> source) & 1u)) return value;
    T result;
    memcpy(&result, &slots[source], sizeof(T));
    return result;
}
}  // namespace medclip_emu

template <class T>
inline T __shfl_sync(unsigned mask, T value, int srcLane, int width = warpSize) {
    const int lane = (int)::medclip_emu::env->lane;
    return ::medclip_emu::shuffle_from(mask, value, (lane & ~(width - 1)) + (srcLane & (width - 1)), false);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
    const int lane = (int)::medclip_emu::env->lane;
    return ::medclip_emu::shuffle_from(mask, value, lane + (int)delta, (lane & (width - 1)) + (int)delta >= width);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
    const int lane = (int)::medclip_emu::env->lane;
    return ::medclip_emu::shuffle_from(mask, value, lane - (int)delta, (lane & (width - 1)) < (int)delta);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T value, int laneMask, int width = warpSize) {
    const int lane = (int)::medclip_emu::env->lane;
    const int source = lane ^ laneMask;
    return ::medclip_emu::shuffle_from(mask, value, source, source >= (lane & ~(width - 1)) + width);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
    const unsigned long long* slots =
        ::medclip_emu::env->runtime->warp_exchange(::medclip_emu::env, mask, predicate != 0);
    unsigned ballot = 0;
    const unsigned lanes = mask & ::medclip_emu::env->warp_lanes;
    for (int i = 0; i < 32; ++i)
        if (((lanes >> i) & 1u) && slots[i]) ballot |= 1u << i;
    return ballot;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
    return __ballot_sync(mask, predicate) == (mask & ::medclip_emu::env->warp_lanes);
}

// ---- tensor cores (kernels call these where the GPU build has inline PTX) ----

namespace medclip_emu {
struct MmaFragments {
    unsigned a[4], b[2];
};

// bf16 `index` (0: low half) of a packed pair, widened exactly.
inline double bf16_at(unsigned pair, unsigned index) {
    return (double)__builtin_bit_cast(float, index ? pair & 0xffff0000u : pair << 16);
}

// d += A * B for one warp's m16n8k16 BF16 tile product with F32 accumulators, in the register fragments of PTX's
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32. Every one of the 32 lanes of the warp must call it together.
// Lane l (g = l / 4, t = l % 4) holds a = {A[g][2t..2t+1], A[g+8][2t..2t+1], A[g][2t+8..2t+9], A[g+8][2t+8..2t+9]},
// b = {B[2t..2t+1][g], B[2t+8..2t+9][g]} (lower k in the low half) and d = {D[g][2t], D[g][2t+1], D[g+8][2t],
// D[g+8][2t+1]}. The 16 products are summed in double in k order and added to d once, rounding to float once.
//
// One exchange round: each lane publishes the address of its fragments and reads the other lanes' through
// them. The fragments live in a thread_local pair of buffers used alternately: this lane overwrites a buffer
// two calls later, after the next call's exchange has completed, which every lane reaches only once it has
// finished reading this call's fragments. Lanes missing from the warp contribute zeros; a lane that has
// returned from the kernel must not be left out (undefined on a GPU; here its slot holds a stale value).
inline void mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    static thread_local MmaFragments buffers[2];
    static thread_local unsigned parity = 0;
    MmaFragments& mine = buffers[parity ^= 1u];
    memcpy(mine.a, a, sizeof mine.a);
    memcpy(mine.b, b, sizeof mine.b);
    const unsigned long long* slots =
        env->runtime->warp_exchange(env, 0xffffffffu, (unsigned long long)(uintptr_t)&mine);
    static constexpr MmaFragments kZeros = {};
    const auto fragments = [&](unsigned lane) {
        return ((env->warp_lanes >> lane) & 1u) ? (const MmaFragments*)(uintptr_t)slots[lane] : &kZeros;
    };
    const unsigned g = env->lane >> 2, t = env->lane & 3;
    double sums[2][2] = {};  // [row g, g + 8][column 2t, 2t + 1]
    for (unsigned k = 0; k < 16; ++k) {
        const unsigned source = k % 8 / 2, high = k >= 8, half = k & 1;
        const MmaFragments& row = *fragments(4 * g + source);
        const MmaFragments &column0 = *fragments(8 * t + source), &column1 = *fragments(8 * t + 4 + source);
        const double a0 = bf16_at(row.a[2 * high], half), a1 = bf16_at(row.a[2 * high + 1], half);
        const double b0 = bf16_at(column0.b[high], half), b1 = bf16_at(column1.b[high], half);
        sums[0][0] += a0 * b0;
        sums[0][1] += a0 * b1;
        sums[1][0] += a1 * b0;
        sums[1][1] += a1 * b1;
    }
    d[0] = (float)((double)d[0] + sums[0][0]);
    d[1] = (float)((double)d[1] + sums[0][1]);
    d[2] = (float)((double)d[2] + sums[1][0]);
    d[3] = (float)((double)d[3] + sums[1][1]);
}
}  // namespace medclip_emu

// ---- atomics ----

#define MEDCLIP_EMU_ATOMIC_RMW(NAME, TYPE, OP) \
    inline TYPE NAME(TYPE* address, TYPE value) { return std::atomic_ref<TYPE>(*address).OP(value); }
MEDCLIP_EMU_ATOMIC_RMW(atomicAdd, int, fetch_add)
MEDCLIP_EMU_ATOMIC_RMW(atomicAdd, unsigned int, fetch_add)
MEDCLIP_EMU_ATOMIC_RMW(atomicAdd, unsigned long long, fetch_add)
MEDCLIP_EMU_ATOMIC_RMW(atomicAdd, float, fetch_add)
MEDCLIP_EMU_ATOMIC_RMW(atomicAdd, double, fetch_add)
MEDCLIP_EMU_ATOMIC_RMW(atomicSub, int, fetch_sub)
MEDCLIP_EMU_ATOMIC_RMW(atomicSub, unsigned int, fetch_sub)
MEDCLIP_EMU_ATOMIC_RMW(atomicExch, int, exchange)
MEDCLIP_EMU_ATOMIC_RMW(atomicExch, unsigned int, exchange)
MEDCLIP_EMU_ATOMIC_RMW(atomicExch, float, exchange)
#undef MEDCLIP_EMU_ATOMIC_RMW

namespace medclip_emu {
template <class T, class Pick>
inline T atomic_update(T* address, T value, Pick pick) {
    std::atomic_ref<T> target(*address);
    T old = target.load();
    while (!target.compare_exchange_weak(old, pick(old, value))) {
    }
    return old;
}
}  // namespace medclip_emu

#define MEDCLIP_EMU_ATOMIC_PICK(NAME, TYPE, BETTER)                                                     \
    inline TYPE NAME(TYPE* address, TYPE value) {                                                      \
        return ::medclip_emu::atomic_update(address, value, [](TYPE a, TYPE b) { return BETTER ? a : b; }); \
    }
MEDCLIP_EMU_ATOMIC_PICK(atomicMax, int, a > b)
MEDCLIP_EMU_ATOMIC_PICK(atomicMax, unsigned int, a > b)
MEDCLIP_EMU_ATOMIC_PICK(atomicMax, long long, a > b)
MEDCLIP_EMU_ATOMIC_PICK(atomicMin, int, a < b)
MEDCLIP_EMU_ATOMIC_PICK(atomicMin, unsigned int, a < b)
MEDCLIP_EMU_ATOMIC_PICK(atomicMin, long long, a < b)
#undef MEDCLIP_EMU_ATOMIC_PICK

#define MEDCLIP_EMU_ATOMIC_CAS(TYPE)                                           \
    inline TYPE atomicCAS(TYPE* address, TYPE compare, TYPE value) {           \
        std::atomic_ref<TYPE>(*address).compare_exchange_strong(compare, value); \
        return compare;                                                        \
    }
MEDCLIP_EMU_ATOMIC_CAS(int)
MEDCLIP_EMU_ATOMIC_CAS(unsigned int)
MEDCLIP_EMU_ATOMIC_CAS(unsigned long long)
#undef MEDCLIP_EMU_ATOMIC_CAS

// ---- math and bit casts (expf, sqrtf, tanhf, erff, fmaxf, isnan, INFINITY, ... come from math.h) ----

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanhf(float x) { return tanhf(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
template <class T>
inline T __ldg(const T* address) { return *address; }

inline unsigned int __float_as_uint(float x) { return __builtin_bit_cast(unsigned int, x); }
inline float __uint_as_float(unsigned int x) { return __builtin_bit_cast(float, x); }
inline int __float_as_int(float x) { return __builtin_bit_cast(int, x); }
inline float __int_as_float(int x) { return __builtin_bit_cast(float, x); }
inline long long __double_as_longlong(double x) { return __builtin_bit_cast(long long, x); }
inline double __longlong_as_double(long long x) { return __builtin_bit_cast(double, x); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }

#define MEDCLIP_EMU_MIN_MAX(TYPE)                                     \
    inline TYPE min(TYPE a, TYPE b) { return a < b ? a : b; }         \
    inline TYPE max(TYPE a, TYPE b) { return a > b ? a : b; }
MEDCLIP_EMU_MIN_MAX(int)
MEDCLIP_EMU_MIN_MAX(unsigned int)
MEDCLIP_EMU_MIN_MAX(long long)
MEDCLIP_EMU_MIN_MAX(unsigned long long)
MEDCLIP_EMU_MIN_MAX(float)
MEDCLIP_EMU_MIN_MAX(double)
#undef MEDCLIP_EMU_MIN_MAX
inline unsigned int min(int a, unsigned int b) { return min((unsigned int)a, b); }
inline unsigned int min(unsigned int a, int b) { return min(a, (unsigned int)b); }
inline unsigned int max(int a, unsigned int b) { return max((unsigned int)a, b); }
inline unsigned int max(unsigned int a, int b) { return max(a, (unsigned int)b); }

// ---- vector types ----

struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// ---- what the emulator's compiler generates code against ----

namespace medclip_emu {
// `extern __shared__ T name[];` at namespace scope becomes a DynamicShared<T>; inside a function it
// becomes a `T* const` local, both pointing at the launch's dynamic shared memory.
template <class T>
struct DynamicShared {
    operator T*() const { return static_cast<T*>(env->dynamic_shared); }
};

template <class... Params, size_t... I>
inline void call_with_params(void (*kernel)(Params...), void** params, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<Params>*>(params[I])...);
}

template <class... Params>
constexpr int param_count(void (*)(Params...)) { return (int)sizeof...(Params); }

template <auto Kernel>
void launch(const ThreadEnv* thread_env, void** params) {
    env = thread_env;
    call_with_params(Kernel, params, std::make_index_sequence<param_count(Kernel)>{});
}
}  // namespace medclip_emu
