// adamw.cu: decoupled AdamW on one parameter, torch.optim.AdamW's update order:
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p = p * decay - lr * (m / bc1) / (sqrt(v) / sqrt(bc2) + eps),
// with decay = 1 - lr * weight_decay and the bias corrections bc = 1 - beta^t computed on the host in the parameter's
// precision (as the CPU backend does). One thread per element, grid-stride; memory-bound (4 reads, 3 writes).
// bf16 mixed precision: the _bf16 variant also writes the updated fp32 master weight rounded to bf16 (the GEMM operand
// of the next step), so no separate cast pass is needed. adamw_multi_f32 updates many parameters in one launch.
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

extern "C" __global__ void adamw_multi_f32(const adamw_tensor* tensors, int count, float beta1, float beta2, float eps,
    float bias_correction1, float sqrt_bias_correction2)
{
    // The last tensor whose first chunk is at or before this block's (empty tensors own no chunk and are skipped).
    long long chunk = blockIdx.x;
    int lo = 0, hi = count - 1;
    while (lo < hi)
    {
        int mid = (lo + hi + 1) / 2;
        if (tensors[mid].first_chunk <= chunk) lo = mid;
        else hi = mid - 1;
    }
    const adamw_tensor& t = tensors[lo];
    long long start = (chunk - t.first_chunk) * ADAMW_CHUNK;
    long long end = start + ADAMW_CHUNK < t.n ? start + ADAMW_CHUNK : t.n;
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x)
    {
        float p = adamw_element(t.p, t.g, t.m, t.v, i, t.lr, beta1, beta2, eps, t.decay, bias_correction1, sqrt_bias_correction2);
        if (t.p_bf16) t.p_bf16[i] = float_to_bf16(p);
    }
}
