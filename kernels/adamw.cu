// adamw.cu: decoupled AdamW on one parameter, torch.optim.AdamW's update order:
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p = p * decay - lr * (m / bc1) / (sqrt(v) / sqrt(bc2) + eps),
// with decay = 1 - lr * weight_decay and the bias corrections bc = 1 - beta^t computed on the host in the parameter's
// precision (as the CPU backend does). One thread per element, grid-stride; memory-bound (4 reads, 3 writes).
// bf16 mixed precision: the _bf16 variant also writes the updated fp32 master weight rounded to bf16 (the GEMM operand
// of the next step), so no separate cast pass is needed. adamw_multi_f32 updates many parameters in one launch;
// adamw_multi_scheduled_f32, the trainer's, also reads the step's count, rate and skip mark on the device.
#include "common.cuh"

template <typename T> __device__ __forceinline__ T adamw_element(T* p, const T* g, T* m, T* v, long long i, T lr, T beta1, T beta2,
    T eps, T decay, T bias_correction1, T sqrt_bias_correction2)
{
    T gi = g[i];
    T mi = beta1 * m[i] + ((T)1 - beta1) * gi;
    T vi = beta2 * v[i] + ((T)1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    T pi = p[i] * decay - lr * (mi / bias_correction1) / (sqrt_of(vi) / sqrt_bias_correction2 + eps);
    p[i] = pi;
    return pi;
}

template <typename T> __device__ void adamw(T* p, const T* g, T* m, T* v, long long n, T lr, T beta1, T beta2, T eps, T decay,
    T bias_correction1, T sqrt_bias_correction2)
{
    GRID_STRIDE_LOOP(i, n)
    {
        adamw_element(p, g, m, v, i, lr, beta1, beta2, eps, decay, bias_correction1, sqrt_bias_correction2);
    }
}

extern "C" __global__ void adamw_f32_bf16(float* p, const float* g, float* m, float* v, unsigned short* p_bf16, long long n, float lr,
    float beta1, float beta2, float eps, float decay, float bias_correction1, float sqrt_bias_correction2)
{
    GRID_STRIDE_LOOP(i, n)
    {
        p_bf16[i] = float_to_bf16(adamw_element(p, g, m, v, i, lr, beta1, beta2, eps, decay, bias_correction1, sqrt_bias_correction2));
    }
}

extern "C" __global__ void adamw_f32(float* p, const float* g, float* m, float* v, long long n, float lr, float beta1, float beta2, float eps, float decay, float bias_correction1, float sqrt_bias_correction2) { adamw<float>(p, g, m, v, n, lr, beta1, beta2, eps, decay, bias_correction1, sqrt_bias_correction2); }
extern "C" __global__ void adamw_f64(double* p, const double* g, double* m, double* v, long long n, double lr, double beta1, double beta2, double eps, double decay, double bias_correction1, double sqrt_bias_correction2) { adamw<double>(p, g, m, v, n, lr, beta1, beta2, eps, decay, bias_correction1, sqrt_bias_correction2); }

// Multi-tensor AdamW: one launch updates every parameter (PyTorch's multi_tensor_apply layout). The host writes a
// table with one 64-byte entry per tensor (its five addresses, length, own learning rate and decay factor, and the
// index of its first chunk); each block owns one chunk of ADAMW_CHUNK consecutive elements of one tensor, found by a
// binary search over the first chunks, so no block is idle and every element sees the per-tensor kernel's arithmetic.
#define ADAMW_CHUNK 4096

struct adamw_tensor
{
    float* p;
    const float* g;
    float* m;
    float* v;
    unsigned short* p_bf16; // null: no bf16 copy to write
    long long n;
    float lr;
    float decay;
    long long first_chunk;
};

// The index of the last tensor whose first chunk is at or before this block's (empty tensors own no chunk and are skipped).
template <typename Row> __device__ __forceinline__ int chunk_owner(const Row* tensors, int count)
{
    long long chunk = blockIdx.x;
    int lo = 0, hi = count - 1;
    while (lo < hi)
    {
        int mid = (lo + hi + 1) / 2;
        if (tensors[mid].first_chunk <= chunk) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

// The block's chunk of tensor t with gradient g, each element as the per-tensor kernel updates it (and its bf16 copy
// when t has one).
template <typename Row> __device__ void adamw_chunk(const Row& t, const float* g, float lr, float beta1, float beta2, float eps, float decay,
    float bias_correction1, float sqrt_bias_correction2)
{
    long long start = ((long long)blockIdx.x - t.first_chunk) * ADAMW_CHUNK;
    long long end = start + ADAMW_CHUNK < t.n ? start + ADAMW_CHUNK : t.n;
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x)
    {
        float p = adamw_element(t.p, g, t.m, t.v, i, lr, beta1, beta2, eps, decay, bias_correction1, sqrt_bias_correction2);
        if (t.p_bf16) t.p_bf16[i] = float_to_bf16(p);
    }
}

extern "C" __global__ void adamw_multi_f32(const adamw_tensor* tensors, int count, float beta1, float beta2, float eps,
    float bias_correction1, float sqrt_bias_correction2)
{
    const adamw_tensor& t = tensors[chunk_owner(tensors, count)];
    adamw_chunk(t, t.g, t.lr, beta1, beta2, eps, t.decay, bias_correction1, sqrt_bias_correction2);
}

// The trainer's update (adamw_multi_scheduled_f32): what changes between steps is read on the device, so its table (one
// 64-byte entry per tensor: the addresses of the weights, moments and bf16 copy, length, the tensor's factor on the
// scheduled rate in double, its weight decay, its first chunk) is written once; the gradients, which a step allocates,
// come as their own array of addresses (written when they moved). step holds the step ledger's first three values (step_ledger.cu): t, steps
// applied and the skip mark; a skipped step updates nothing. The rate is (float)(schedule[steps - 1] * lr_scale) and the
// bias corrections 1 - beta^t in double, then float, as the host forms them for the CPU backend.
struct adamw_scheduled_tensor
{
    float* p;
    float* m;
    float* v;
    unsigned short* p_bf16; // null: no bf16 copy to write
    long long n;
    double lr_scale;
    float weight_decay;
    int unused;
    long long first_chunk;
};

extern "C" __global__ void adamw_multi_scheduled_f32(const adamw_scheduled_tensor* tensors, const unsigned long long* gradients, int count,
    double beta1, double beta2, float eps, const double* step, const double* schedule)
{
    if (step[2] != 0.0) return;
    double t_updates = step[0];
    double rate = schedule[(long long)step[1] - 1];
    float bias_correction1 = (float)(1.0 - pow(beta1, t_updates));
    float sqrt_bias_correction2 = sqrtf((float)(1.0 - pow(beta2, t_updates)));
    int owner = chunk_owner(tensors, count);
    const adamw_scheduled_tensor& t = tensors[owner];
    float lr = (float)(rate * t.lr_scale);
    float decay = 1.0f - lr * t.weight_decay;
    adamw_chunk(t, (const float*)gradients[owner], lr, (float)beta1, (float)beta2, eps, decay, bias_correction1, sqrt_bias_correction2);
}
