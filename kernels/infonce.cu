// infonce.cu: CLIP's symmetric InfoNCE loss on a square logits matrix L [n, n] (pair i matches pair i), forward and
// backward in one launch. With r_i = logsumexp of row i and c_j = logsumexp of column j:
//   loss = (1/2n) * sum_i (r_i + c_i - 2 L_ii)
//   dL_ij = (1/2n) * (exp(L_ij - r_i) + exp(L_ij - c_j) - 2 [i == j])
// One block: its warps first take the rows and the columns (one warp per row or column: max, then sum of exp) into
// the stats scratch [2n], then after a barrier every thread writes its share of the gradient and of the loss sum.
// The logits of a contrastive batch are small (n is the batch size), so one block suffices and no second launch or
// host round trip is needed.
#include "common.cuh"

template <typename T> __device__ void infonce(const T* logits, T* loss, T* dlogits, T* stats, int n)
{
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    for (int line = warp; line < 2 * n; line += warps)
    {
        // line < n: row `line` (stride 1); otherwise column `line - n` (stride n).
        bool row = line < n;
        long long start = row ? (long long)line * n : line - n, stride = row ? 1 : n;
        T m = -(T)INFINITY;
        for (int k = lane; k < n; k += 32) m = max_of(m, logits[start + k * stride]);
        m = warp_max(m);
        T s = 0;
        for (int k = lane; k < n; k += 32) s += exp_of(logits[start + k * stride] - m);
        s = warp_sum(s);
        if (lane == 0) stats[line] = m + log_of(s);
    }
    __syncthreads();
    T w = (T)0.5 / (T)n, partial = 0;
    long long count = (long long)n * n;
    for (long long idx = threadIdx.x; idx < count; idx += blockDim.x)
    {
        int i = (int)(idx / n), j = (int)(idx % n);
        T l = logits[idx];
        T g = exp_of(l - stats[i]) + exp_of(l - stats[n + j]);
        if (i == j)
        {
            g -= (T)2;
            partial += stats[i] + stats[n + i] - (T)2 * l;
        }
        dlogits[idx] = w * g;
    }
    T total = block_sum(partial);
    if (threadIdx.x == 0) loss[0] = w * total;
}

extern "C" __global__ void infonce_f32(const float* logits, float* loss, float* dlogits, float* stats, int n) { infonce<float>(logits, loss, dlogits, stats, n); }
extern "C" __global__ void infonce_f64(const double* logits, double* loss, double* dlogits, double* stats, int n) { infonce<double>(logits, loss, dlogits, stats, n); }
