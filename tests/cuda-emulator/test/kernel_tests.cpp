// Kernels running on the emulator: parameter passing, indices, barriers, warp shuffles, tensor-core
// products, atomics, dynamic shared memory, launch limits and faults.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>

#include "test_support.h"

namespace {

const char* const kKernels = R"(
extern __shared__ float file_scope_shared[];

extern "C" __global__ void write_params(double* out, const double* in, int i, long long big, float f, double d,
                                        unsigned int u) {
    out[0] = i;
    out[1] = (double)big;
    out[2] = f;
    out[3] = d;
    out[4] = in[0];
    out[5] = u;
}

extern "C" __global__ void write_indices(int* out) {
    const int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    atomicAdd(&out[block * blockDim.x * blockDim.y * blockDim.z + thread], 1);
}

// Each thread reads the slot that the mirrored thread wrote.
extern "C" __global__ void mirror_shared(int* out, int seed, int synchronize) {
    __shared__ int slots[256];
    const int t = threadIdx.x, n = blockDim.x;
    slots[t] = seed + t;
    if (synchronize) __syncthreads();
    out[t] = slots[n - 1 - t];
}

extern "C" __global__ void warp_reductions(const int* in, int* xor_sum, int* down_sum, float* float_sum,
                                           double* double_sum, int* broadcast, int* half_sum) {
    const int t = threadIdx.x, lane = t % 32;
    int v = in[t], x = v, h = v;
    float f = (float)v;
    double d = v * 0.5;
    for (int offset = 16; offset > 0; offset /= 2) {
        x += __shfl_xor_sync(0xffffffffu, x, offset);
        v += __shfl_down_sync(0xffffffffu, v, offset);
        f += __shfl_xor_sync(0xffffffffu, f, offset);
        d += __shfl_down_sync(0xffffffffu, d, offset);
    }
    for (int offset = 8; offset > 0; offset /= 2) h += __shfl_xor_sync(0xffffffffu, h, offset, 16);
    xor_sum[t] = x;
    half_sum[t] = h;
    float_sum[t] = f;
    broadcast[t] = __shfl_sync(0xffffffffu, in[t], 5);
    if (lane == 0) {
        down_sum[t / 32] = v;
        double_sum[t / 32] = d;
    }
}

// Warp w computes D = C + sum_p A_p B_p for its own `products` 16x16 A_p (row-major) and 16x8 B_p
// (row-major, k by n) in bf16 and 16x8 F32 C, D, moving each through the mma fragment layout.
extern "C" __global__ void mma_tiles(const unsigned short* a, const unsigned short* b, const float* c, float* d,
                                     int products) {
    const int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const auto pair = [](const unsigned short* m, int first, int second) {
        return (unsigned)m[first] | (unsigned)m[second] << 16;
    };
    float acc[4];
    const float* cw = c + 128 * w;
    acc[0] = cw[8 * g + 2 * t], acc[1] = cw[8 * g + 2 * t + 1];
    acc[2] = cw[8 * (g + 8) + 2 * t], acc[3] = cw[8 * (g + 8) + 2 * t + 1];
    for (int p = 0; p < products; ++p) {
        const unsigned short* ap = a + 256 * (w * products + p);
        const unsigned short* bp = b + 128 * (w * products + p);
        const unsigned af[4] = {pair(ap, 16 * g + 2 * t, 16 * g + 2 * t + 1),
                                pair(ap, 16 * (g + 8) + 2 * t, 16 * (g + 8) + 2 * t + 1),
                                pair(ap, 16 * g + 2 * t + 8, 16 * g + 2 * t + 9),
                                pair(ap, 16 * (g + 8) + 2 * t + 8, 16 * (g + 8) + 2 * t + 9)};
        const unsigned bf[2] = {pair(bp, 8 * (2 * t) + g, 8 * (2 * t + 1) + g),
                                pair(bp, 8 * (2 * t + 8) + g, 8 * (2 * t + 9) + g)};
        medclip_emu::mma_m16n8k16_bf16(acc, af, bf);
    }
    float* dw = d + 128 * w;
    dw[8 * g + 2 * t] = acc[0], dw[8 * g + 2 * t + 1] = acc[1];
    dw[8 * (g + 8) + 2 * t] = acc[2], dw[8 * (g + 8) + 2 * t + 1] = acc[3];
}

extern "C" __global__ void atomics(int* count, float* float_sum, double* double_sum, unsigned int* unsigned_sum,
                                   int* maximum) {
    const int global = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(count, 1);
    atomicAdd(float_sum, 1.0f);
    atomicAdd(double_sum, 0.5);
    atomicAdd(unsigned_sum, 2u);
    atomicMax(maximum, (global * 7919) % 10007);
}

// Reverses each block's slice through dynamic shared memory declared inside and outside the kernel.
extern "C" __global__ void reverse_block(const float* in, float* out, float* out_file_scope) {
    extern __shared__ float local_shared[];
    const int t = threadIdx.x, n = blockDim.x, base = blockIdx.x * n;
    local_shared[t] = in[base + t];
    __syncthreads();
    out[base + t] = local_shared[n - 1 - t];
    __syncthreads();
    file_scope_shared[t] = 2.0f * in[base + t];
    __syncthreads();
    out_file_scope[base + t] = file_scope_shared[n - 1 - t];
}

// Sums 1024 values with a shared-memory tree; threads past `n` return before the barriers.
extern "C" __global__ void block_sum(const float* in, float* out, int n) {
    __shared__ float partial[1024];
    const int t = threadIdx.x;
    if (t >= n) return;
    partial[t] = in[t];
    __syncthreads();
    for (int stride = 512; stride > 0; stride /= 2) {
        if (t < stride && t + stride < n) partial[t] += partial[t + stride];
        __syncthreads();
    }
    if (t == 0) out[0] = partial[0];
}

extern "C" __global__ void write_past_end(float* out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i] = 1.0f;
}

extern "C" __global__ void read_past_end(const float* in, float* out, int n) {
    const int i = threadIdx.x;
    if (i < n) out[i] = in[i + 1];
}

// Half a warp shuffles while the other half waits at __syncthreads: neither can ever finish.
extern "C" __global__ void divergent_barrier(int* out) {
    int v = threadIdx.x;
    if (threadIdx.x < 16) v += __shfl_xor_sync(0xffffffffu, v, 1);
    else __syncthreads();
    out[threadIdx.x] = v;
}

extern "C" __global__ void nothing(int* out) {
    if (threadIdx.x == 1000000) out[0] = 1;
}
)";

class KernelTest : public EmulatorTest {
protected:
    void SetUp() override {
        EmulatorTest::SetUp();
        module_ = load_module(kKernels);
        ASSERT_NE(module_, nullptr);
    }
    CUmodule module_ = nullptr;
};

TEST_F(KernelTest, UnpacksPointerIntLongLongFloatDoubleAndUnsignedParameters) {
    CUfunction function = get_function(module_, "write_params");
    CUdeviceptr out = upload(std::vector<double>(6, 0.0)), in = upload(std::vector<double>{-2.25});
    int i = -123456;
    long long big = 9007199254740991LL;  // 2^53 - 1: exact in a double
    float f = 1.5f;
    double d = 3.141592653589793;
    unsigned int u = 4000000000u;
    ASSERT_EQ(launch(function, 1, 1, {&out, &in, &i, &big, &f, &d, &u}), CUDA_SUCCESS);
    EXPECT_EQ(download<double>(out, 6), (std::vector<double>{-123456.0, 9007199254740991.0, 1.5, d, -2.25, 4e9}));
}

TEST_F(KernelTest, EveryThreadOfA3dGridRunsOnce) {
    CUfunction function = get_function(module_, "write_indices");
    const unsigned total = 3 * 2 * 2 * (8 * 4 * 2);
    CUdeviceptr out = upload(std::vector<int>(total, 0));
    std::vector<void*> params = {&out};
    ASSERT_EQ(cuLaunchKernel(function, 3, 2, 2, 8, 4, 2, 0, nullptr, params.data(), nullptr), CUDA_SUCCESS);
    EXPECT_EQ(download<int>(out, total), std::vector<int>(total, 1));
}

TEST_F(KernelTest, SyncthreadsOrdersSharedMemoryAndItsAbsenceIsVisible) {
    CUfunction function = get_function(module_, "mirror_shared");
    const int n = 256;
    CUdeviceptr out = upload(std::vector<int>(n, 0));
    int wrong_launches = 0;
    for (int seed = 1000; seed < 11000; seed += 1000) {
        std::vector<int> expected(n);
        for (int t = 0; t < n; ++t) expected[t] = seed + n - 1 - t;
        int synchronize = 1;
        ASSERT_EQ(launch(function, 1, n, {&out, &seed, &synchronize}), CUDA_SUCCESS);
        EXPECT_EQ(download<int>(out, n), expected) << "with __syncthreads, seed " << seed;
        int new_seed = seed + 500;  // a fresh value, so stale shared memory cannot look right
        for (int t = 0; t < n; ++t) expected[t] = new_seed + n - 1 - t;
        synchronize = 0;
        ASSERT_EQ(launch(function, 1, n, {&out, &new_seed, &synchronize}), CUDA_SUCCESS);
        if (download<int>(out, n) != expected) ++wrong_launches;
    }
    EXPECT_GT(wrong_launches, 0) << "threads ran in lockstep order: a missing barrier went unnoticed";
}

TEST_F(KernelTest, WarpShufflesReduceExactly) {
    CUfunction function = get_function(module_, "warp_reductions");
    const int n = 128, warps = n / 32;
    std::vector<int> in(n);
    for (int t = 0; t < n; ++t) in[t] = (t * 37) % 101 - 50;
    CUdeviceptr d_in = upload(in), xor_sum = upload(std::vector<int>(n)), down_sum = upload(std::vector<int>(warps)),
                float_sum = upload(std::vector<float>(n)), double_sum = upload(std::vector<double>(warps)),
                broadcast = upload(std::vector<int>(n)), half_sum = upload(std::vector<int>(n));
    ASSERT_EQ(launch(function, 1, n, {&d_in, &xor_sum, &down_sum, &float_sum, &double_sum, &broadcast, &half_sum}),
              CUDA_SUCCESS);
    const auto xs = download<int>(xor_sum, n), ds = download<int>(down_sum, warps), hs = download<int>(half_sum, n),
               bs = download<int>(broadcast, n);
    const auto fs = download<float>(float_sum, n);
    const auto dd = download<double>(double_sum, warps);
    for (int w = 0; w < warps; ++w) {
        const int sum = std::accumulate(in.begin() + 32 * w, in.begin() + 32 * w + 32, 0);
        EXPECT_EQ(ds[w], sum) << "warp " << w;
        EXPECT_EQ(dd[w], sum * 0.5) << "warp " << w;
        for (int lane = 0; lane < 32; ++lane) {
            const int t = 32 * w + lane, half = 32 * w + lane / 16 * 16;
            EXPECT_EQ(xs[t], sum) << "thread " << t;
            EXPECT_EQ(fs[t], float(sum)) << "thread " << t;
            EXPECT_EQ(bs[t], in[32 * w + 5]) << "thread " << t;
            EXPECT_EQ(hs[t], std::accumulate(in.begin() + half, in.begin() + half + 16, 0)) << "thread " << t;
        }
    }
}

// Random bf16 tiles for `warps` x `products` mma calls and nonzero F32 C; runs mma_tiles and checks
// D against the host's sum of exact products in double, rounded to float once per call.
void check_mma_tiles(CUfunction function, int warps, int products) {
    std::mt19937 random(1234 + 10 * warps + products);
    std::uniform_real_distribution<float> uniform(-4.0f, 4.0f);
    const auto bf16 = [&] {
        uint32_t bits;
        const float f = uniform(random);
        std::memcpy(&bits, &f, 4);
        return uint16_t(bits >> 16);
    };
    const auto widen = [](uint16_t h) {
        const uint32_t bits = uint32_t(h) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        return double(f);
    };
    std::vector<uint16_t> a(256 * warps * products), b(128 * warps * products);
    std::vector<float> c(128 * warps);
    for (auto& x : a) x = bf16();
    for (auto& x : b) x = bf16();
    for (auto& x : c) x = uniform(random);
    std::vector<float> expected = c;
    for (int w = 0; w < warps; ++w)
        for (int p = 0; p < products; ++p) {
            const uint16_t* ap = &a[256 * (w * products + p)];
            const uint16_t* bp = &b[128 * (w * products + p)];
            for (int m = 0; m < 16; ++m)
                for (int n = 0; n < 8; ++n) {
                    double sum = 0;
                    for (int k = 0; k < 16; ++k) sum += widen(ap[16 * m + k]) * widen(bp[8 * k + n]);
                    float& e = expected[128 * w + 8 * m + n];
                    e = float(double(e) + sum);
                }
        }
    CUdeviceptr d_a = upload(a), d_b = upload(b), d_c = upload(c), d_d = upload(std::vector<float>(c.size()));
    ASSERT_EQ(launch(function, 1, 32 * warps, {&d_a, &d_b, &d_c, &d_d, &products}), CUDA_SUCCESS);
    const auto d = download<float>(d_d, c.size());
    for (size_t i = 0; i < d.size(); ++i)
        EXPECT_EQ(d[i], expected[i]) << "warp " << i / 128 << ", D[" << i % 128 / 8 << "][" << i % 8 << "]";
}

TEST_F(KernelTest, MmaBf16TilesOfTwoIndependentWarps) {
    check_mma_tiles(get_function(module_, "mma_tiles"), 2, 1);
}

TEST_F(KernelTest, MmaBf16CallsAccumulateIntoD) {
    CUfunction function = get_function(module_, "mma_tiles");
    check_mma_tiles(function, 2, 2);
    check_mma_tiles(function, 1, 5);  // reuses each lane's fragment buffers
}

TEST_F(KernelTest, AtomicsFromManyThreadsAreExact) {
    CUfunction function = get_function(module_, "atomics");
    const int blocks = 64, threads = 256, total = blocks * threads;
    CUdeviceptr count = upload(std::vector<int>{0}), float_sum = upload(std::vector<float>{0}),
                double_sum = upload(std::vector<double>{0}), unsigned_sum = upload(std::vector<unsigned>{0}),
                maximum = upload(std::vector<int>{-1});
    ASSERT_EQ(launch(function, blocks, threads, {&count, &float_sum, &double_sum, &unsigned_sum, &maximum}),
              CUDA_SUCCESS);
    int expected_max = -1;
    for (int g = 0; g < total; ++g) expected_max = std::max(expected_max, (g * 7919) % 10007);
    EXPECT_EQ(download<int>(count, 1)[0], total);
    EXPECT_EQ(download<float>(float_sum, 1)[0], float(total));
    EXPECT_EQ(download<double>(double_sum, 1)[0], total * 0.5);
    EXPECT_EQ(download<unsigned>(unsigned_sum, 1)[0], 2u * total);
    EXPECT_EQ(download<int>(maximum, 1)[0], expected_max);
}

TEST_F(KernelTest, DynamicSharedMemoryInsideAndOutsideKernels) {
    CUfunction function = get_function(module_, "reverse_block");
    const int blocks = 3, threads = 64;
    std::vector<float> in(blocks * threads);
    std::iota(in.begin(), in.end(), 1.0f);
    CUdeviceptr d_in = upload(in), out = upload(std::vector<float>(in.size())),
                out_file_scope = upload(std::vector<float>(in.size()));
    ASSERT_EQ(launch(function, blocks, threads, {&d_in, &out, &out_file_scope}, threads * sizeof(float)), CUDA_SUCCESS);
    const auto reversed = download<float>(out, in.size()), doubled = download<float>(out_file_scope, in.size());
    for (int b = 0; b < blocks; ++b)
        for (int t = 0; t < threads; ++t) {
            EXPECT_EQ(reversed[b * threads + t], in[b * threads + threads - 1 - t]);
            EXPECT_EQ(doubled[b * threads + t], 2.0f * in[b * threads + threads - 1 - t]);
        }
}

TEST_F(KernelTest, ThousandTwentyFourThreadsMeetAtBarriersAfterEarlyReturns) {
    CUfunction function = get_function(module_, "block_sum");
    std::vector<float> in(1024);
    for (int i = 0; i < 1024; ++i) in[i] = float(i % 17);
    CUdeviceptr d_in = upload(in), out = upload(std::vector<float>{0});
    for (int n : {1024, 1000}) {
        ASSERT_EQ(launch(function, 1, 1024, {&d_in, &out, &n}), CUDA_SUCCESS);
        EXPECT_EQ(download<float>(out, 1)[0], std::accumulate(in.begin(), in.begin() + n, 0.0f)) << n;
    }
}

TEST_F(KernelTest, WriteOnePastTheEndIsAnIllegalAddressAndSticks) {
    CUfunction function = get_function(module_, "write_past_end"), nothing = get_function(module_, "nothing");
    int n = 1000;  // 4000 bytes: not a multiple of the page size, so the end is mid-page
    CUdeviceptr out = upload(std::vector<float>(n, 0.0f));
    EXPECT_EQ(launch(function, 4, 256, {&out, &n}), CUDA_ERROR_ILLEGAL_ADDRESS);
    CUdeviceptr more = 0;
    EXPECT_EQ(cuMemAlloc_v2(&more, 16), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_EQ(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_EQ(launch(nothing, 1, 1, {&out}), CUDA_ERROR_ILLEGAL_ADDRESS);
    // Destroying the primary context (last release) and retaining it again recovers, as on a GPU.
    ASSERT_EQ(cuDevicePrimaryCtxRelease_v2(0), CUDA_SUCCESS);
    ASSERT_EQ(cuDevicePrimaryCtxRetain(&context_, 0), CUDA_SUCCESS);
    EXPECT_EQ(cuMemAlloc_v2(&more, 16), CUDA_SUCCESS);
    EXPECT_EQ(cuMemFree_v2(more), CUDA_SUCCESS);
}

TEST_F(KernelTest, ReadOnePastTheEndIsAnIllegalAddress) {
    CUfunction function = get_function(module_, "read_past_end");
    int n = 37;
    CUdeviceptr in = upload(std::vector<float>(n, 1.0f)), out = upload(std::vector<float>(n, 0.0f));
    EXPECT_EQ(launch(function, 1, 64, {&in, &out, &n}), CUDA_ERROR_ILLEGAL_ADDRESS);
}

TEST_F(KernelTest, DeadlockedBlockIsALaunchFailureNotAHang) {
    CUfunction function = get_function(module_, "divergent_barrier");
    CUdeviceptr out = upload(std::vector<int>(32, 0));
    EXPECT_EQ(launch(function, 1, 32, {&out}), CUDA_ERROR_LAUNCH_FAILED);
}

TEST_F(KernelTest, LaunchLimitsAreEnforced) {
    CUfunction function = get_function(module_, "nothing");
    CUdeviceptr out = upload(std::vector<int>{0});
    std::vector<void*> params = {&out};
    auto run = [&](unsigned gx, unsigned bx, unsigned by, unsigned bz, unsigned shared) {
        return cuLaunchKernel(function, gx, 1, 1, bx, by, bz, shared, nullptr, params.data(), nullptr);
    };
    EXPECT_EQ(run(1, 1024, 1, 1, 0), CUDA_SUCCESS);
    EXPECT_EQ(run(1, 1025, 1, 1, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(run(1, 32, 32, 2, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(run(1, 1, 1, 65, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(run(0, 32, 1, 1, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(run(1, 0, 1, 1, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(run(1, 32, 1, 1, 48 * 1024), CUDA_SUCCESS);
    EXPECT_EQ(run(1, 32, 1, 1, 64 * 1024), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100 * 1024),
              CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 * 1024), CUDA_SUCCESS);
    EXPECT_EQ(run(1, 32, 1, 1, 64 * 1024), CUDA_SUCCESS);
    EXPECT_EQ(run(1, 32, 1, 1, 64 * 1024 + 1), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(cuLaunchKernel(function, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr), CUDA_ERROR_INVALID_VALUE);
}

TEST_F(KernelTest, LaunchOf256ThreadsReusesPoolThreads) {
    CUfunction function = get_function(module_, "nothing");
    CUdeviceptr out = upload(std::vector<int>{0});
    ASSERT_EQ(launch(function, 1, 256, {&out}), CUDA_SUCCESS);  // starts the pool threads
    const int launches = 200;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < launches; ++i) ASSERT_EQ(launch(function, 1, 256, {&out}), CUDA_SUCCESS);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("1 x 256 launch: %.3f ms\n", ms / launches);
    // About a millisecond on an idle machine; the bound leaves room for busy CI hosts, and starting
    // 256 threads per launch instead of reusing them would still exceed it.
    EXPECT_LT(ms / launches, 10.0);
}

TEST_F(KernelTest, LaunchesFromAnotherThreadNeedTheContextCurrentThere) {
    CUfunction function = get_function(module_, "nothing");
    CUdeviceptr out = upload(std::vector<int>{0});
    CUresult without = CUDA_SUCCESS, with = CUDA_ERROR_UNKNOWN;
    std::thread([&] {
        without = launch(function, 1, 32, {&out});
        cuCtxSetCurrent(context_);
        with = launch(function, 1, 32, {&out});
    }).join();
    EXPECT_EQ(without, CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_EQ(with, CUDA_SUCCESS);
}

}  // namespace
