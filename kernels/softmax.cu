// softmax.cu: attention softmax over the last axis of scores [batch*heads*queries, keys], y = softmax(scale * x).
// key_mask (int [batch, keys], 1 keep, 0 padding, null for none) removes padded keys exactly: they get probability 0
// (they are skipped, not given a large negative score), and a row whose keys are all padded is all zeros. causal != 0
// also removes the keys after the row's query (key k > query q = row % queries), CLIP's text tower's causal mask.
// One warp per row, three passes over the row (max, sum of exp, write). Backward: dx += scale * y * (dy - sum(dy*y)).
#include "common.cuh"

template <typename T> __device__ void softmax_forward(const T* x, const int* key_mask, T* y, int rows, int rows_per_batch, int queries, int keys,
    int causal, T scale)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    const T* xr = x + (long long)row * keys;
    T* yr = y + (long long)row * keys;
    const int* mask = key_mask ? key_mask + (long long)(row / rows_per_batch) * keys : 0;
    int last_key = causal ? row % queries : keys - 1;
    T largest = (T)(-INFINITY);
    for (int k = lane; k < keys; k += 32)
    {
        if (k <= last_key && (!mask || mask[k] != 0)) largest = max_of(largest, xr[k] * scale);
    }
    largest = warp_max(largest);
    T sum = 0;
    for (int k = lane; k < keys; k += 32)
    {
        if (k <= last_key && (!mask || mask[k] != 0)) sum += exp_of(xr[k] * scale - largest);
    }
    sum = warp_sum(sum);
    for (int k = lane; k < keys; k += 32)
        yr[k] = (k <= last_key && (!mask || mask[k] != 0)) ? exp_of(xr[k] * scale - largest) / sum : (T)0;
}

extern "C" __global__ void softmax_forward_f32(const float* x, const int* key_mask, float* y, int rows, int rows_per_batch, int queries, int keys, int causal, float scale) { softmax_forward<float>(x, key_mask, y, rows, rows_per_batch, queries, keys, causal, scale); }
extern "C" __global__ void softmax_forward_f64(const double* x, const int* key_mask, double* y, int rows, int rows_per_batch, int queries, int keys, int causal, double scale) { softmax_forward<double>(x, key_mask, y, rows, rows_per_batch, queries, keys, causal, scale); }

template <typename T> __device__ void softmax_backward(const T* y, const T* dy, T* dx, int rows, int keys, T scale)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    long long base = (long long)row * keys;
    T dot = 0;
    for (int k = lane; k < keys; k += 32) dot += y[base + k] * dy[base + k];
    dot = warp_sum(dot);
    for (int k = lane; k < keys; k += 32) dx[base + k] += (dy[base + k] - dot) * y[base + k] * scale;
}

extern "C" __global__ void softmax_backward_f32(const float* y, const float* dy, float* dx, int rows, int keys, float scale) { softmax_backward<float>(y, dy, dx, rows, keys, scale); }
extern "C" __global__ void softmax_backward_f64(const double* y, const double* dy, double* dx, int rows, int keys, double scale) { softmax_backward<double>(y, dy, dx, rows, keys, scale); }
