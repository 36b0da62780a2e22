// crossentropy.cu: CLIP's two cross-entropies over a [rows, cols] logits matrix and the clamped temperature before them.
// Distribution d is a row (along_columns = 0: length cols, stride 1) or a column (along_columns = 1: length rows,
// stride cols) with one target each. One warp per distribution computes max and log-sum-exp; forward adds
// weight * (lse - logit[target]) into loss[0] with one atomicAdd per distribution; backward adds
// dLoss[0] * weight * (softmax - onehot(target)). A target outside the distribution sets the device error word.
// exp_scale: y = s*x with s = exp(min(log_scale[0], max_log_scale)) read on the device; backward dx += s*dy and
// dLogScale += s * sum(dy*x) unless the clamp is active (block reduction, one atomicAdd per block).
#include "common.cuh"

template <typename T> __device__ T log_sum_exp(const T* x, long long stride, int length, int lane)
{
    T largest = (T)(-INFINITY);
    for (int i = lane; i < length; i += 32) largest = max_of(largest, x[i * stride]);
    largest = warp_max(largest);
    T sum = 0;
    for (int i = lane; i < length; i += 32) sum += exp_of(x[i * stride] - largest);
    return largest + log_of(warp_sum(sum));
}

template <typename T> __device__ void crossentropy_forward(const T* logits, const int* targets, T* loss, int rows, int cols,
    int along_columns, T weight, int* err)
{
    WARP_ROW(d, lane);
    int count = along_columns ? cols : rows, length = along_columns ? rows : cols;
    if (d >= count) return;
    long long stride = along_columns ? cols : 1;
    const T* x = logits + (along_columns ? (long long)d : (long long)d * cols);
    T lse = log_sum_exp(x, stride, length, lane);
    int target = targets[d];
    if (lane != 0) return;
    if (target < 0 || target >= length)
    {
        report_error(err, ERROR_TARGET, d, target, length);
        return;
    }
    atomicAdd(loss, weight * (lse - x[target * stride]));
}

template <typename T> __device__ void crossentropy_backward(const T* logits, const int* targets, const T* dloss, T* dlogits,
    int rows, int cols, int along_columns, T weight, int* err)
{
    WARP_ROW(d, lane);
    int count = along_columns ? cols : rows, length = along_columns ? rows : cols;
    if (d >= count) return;
    long long stride = along_columns ? cols : 1;
    long long start = along_columns ? (long long)d : (long long)d * cols;
    T lse = log_sum_exp(logits + start, stride, length, lane);
    int target = targets[d];
    if (target < 0 || target >= length)
    {
        if (lane == 0) report_error(err, ERROR_TARGET, d, target, length);
        return;
    }
    T g = dloss[0] * weight;
    for (int i = lane; i < length; i += 32)
    {
        long long at = start + i * stride;
        T p = exp_of(logits[at] - lse);
        dlogits[at] += g * (i == target ? p - (T)1 : p);
    }
}

extern "C" __global__ void crossentropy_forward_f32(const float* logits, const int* targets, float* loss, int rows, int cols, int along_columns, float weight, int* err) { crossentropy_forward<float>(logits, targets, loss, rows, cols, along_columns, weight, err); }
extern "C" __global__ void crossentropy_forward_f64(const double* logits, const int* targets, double* loss, int rows, int cols, int along_columns, double weight, int* err) { crossentropy_forward<double>(logits, targets, loss, rows, cols, along_columns, weight, err); }
extern "C" __global__ void crossentropy_backward_f32(const float* logits, const int* targets, const float* dloss, float* dlogits, int rows, int cols, int along_columns, float weight, int* err) { crossentropy_backward<float>(logits, targets, dloss, dlogits, rows, cols, along_columns, weight, err); }
extern "C" __global__ void crossentropy_backward_f64(const double* logits, const int* targets, const double* dloss, double* dlogits, int rows, int cols, int along_columns, double weight, int* err) { crossentropy_backward<double>(logits, targets, dloss, dlogits, rows, cols, along_columns, weight, err); }

template <typename T> __device__ void exp_scale_forward(const T* x, const T* log_scale, T* y, long long n, T max_log_scale)
{
    T s = exp_of(min_of(log_scale[0], max_log_scale));
    GRID_STRIDE_LOOP(i, n) y[i] = x[i] * s;
}

template <typename T> __device__ void exp_scale_backward(const T* x, const T* log_scale, const T* dy, T* dx, T* dlog_scale,
    long long n, T max_log_scale)
{
    T s = exp_of(min_of(log_scale[0], max_log_scale));
    T dot = 0;
    GRID_STRIDE_LOOP(i, n)
    {
        dx[i] += s * dy[i];
        dot += dy[i] * x[i];
    }
    if (dlog_scale && log_scale[0] <= max_log_scale)
    {
        dot = block_sum(dot);
        if (threadIdx.x == 0) atomicAdd(dlog_scale, s * dot);
    }
}

extern "C" __global__ void exp_scale_forward_f32(const float* x, const float* log_scale, float* y, long long n, float max_log_scale) { exp_scale_forward<float>(x, log_scale, y, n, max_log_scale); }
extern "C" __global__ void exp_scale_forward_f64(const double* x, const double* log_scale, double* y, long long n, double max_log_scale) { exp_scale_forward<double>(x, log_scale, y, n, max_log_scale); }
extern "C" __global__ void exp_scale_backward_f32(const float* x, const float* log_scale, const float* dy, float* dx, float* dlog_scale, long long n, float max_log_scale) { exp_scale_backward<float>(x, log_scale, dy, dx, dlog_scale, n, max_log_scale); }
extern "C" __global__ void exp_scale_backward_f64(const double* x, const double* log_scale, const double* dy, double* dx, double* dlog_scale, long long n, double max_log_scale) { exp_scale_backward<double>(x, log_scale, dy, dx, dlog_scale, n, max_log_scale); }
