// l2norm.cu: row-wise L2 normalisation of [rows, cols], y = x / max(||x||, 1e-12) (torch.nn.functional.normalize),
// saving the norms; backward dx += (dy - y * sum(dy*y)) / norm. One warp per row.
#include "common.cuh"

template <typename T> __device__ void l2norm_forward(const T* x, T* y, T* norms, int rows, int cols)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    long long base = (long long)row * cols;
    T squares = 0;
    for (int c = lane; c < cols; c += 32) squares += x[base + c] * x[base + c];
    T norm = max_of(sqrt_of(warp_sum(squares)), (T)1e-12);
    for (int c = lane; c < cols; c += 32) y[base + c] = x[base + c] / norm;
    if (lane == 0) norms[row] = norm;
}

template <typename T> __device__ void l2norm_backward(const T* y, const T* dy, const T* norms, T* dx, int rows, int cols)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    long long base = (long long)row * cols;
    T dot = 0;
    for (int c = lane; c < cols; c += 32) dot += y[base + c] * dy[base + c];
    dot = warp_sum(dot);
    T inverse = (T)1 / norms[row];
    for (int c = lane; c < cols; c += 32) dx[base + c] += (dy[base + c] - y[base + c] * dot) * inverse;
}

extern "C" __global__ void l2norm_forward_f32(const float* x, float* y, float* norms, int rows, int cols) { l2norm_forward<float>(x, y, norms, rows, cols); }
extern "C" __global__ void l2norm_forward_f64(const double* x, double* y, double* norms, int rows, int cols) { l2norm_forward<double>(x, y, norms, rows, cols); }
extern "C" __global__ void l2norm_backward_f32(const float* y, const float* dy, const float* norms, float* dx, int rows, int cols) { l2norm_backward<float>(y, dy, norms, dx, rows, cols); }
extern "C" __global__ void l2norm_backward_f64(const double* y, const double* dy, const double* norms, double* dx, int rows, int cols) { l2norm_backward<double>(y, dy, norms, dx, rows, cols); }
