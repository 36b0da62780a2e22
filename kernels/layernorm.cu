// layernorm.cu: layer norm over the last axis of [rows, cols].
// Forward: one warp per row, two passes over the row (mean, then the centred sum of squares, which is exact where
// E[x^2] - mean^2 would cancel); y = (x - mean) * rstd * gamma + beta; saves mean and rstd = 1/sqrt(var + eps).
// Backward, as llm.c: activations' gradient with one warp per row, dx += rstd * (g - mean(g) - xhat * mean(g*xhat)) with
// g = dy*gamma; the parameters' gradients by a second, column-wise kernel (dGamma += sum dy*xhat, dBeta += sum dy) laid
// out like reduce.cu's bias_backward (row slices along blockIdx.y meet by atomicAdd; one slice is deterministic).
// Everything backward adds (+=). The *_f32_vec4 variants read and write float4 (16 bytes per lane) and are used when cols
// is a multiple of 4 and the pointers are 16-byte aligned (every row then starts aligned).
#include "common.cuh"

template <typename T> __device__ void layernorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
    int rows, int cols, T eps)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    const T* xr = x + (long long)row * cols;
    T* yr = y + (long long)row * cols;
    T sum = 0;
    for (int c = lane; c < cols; c += 32) sum += xr[c];
    T mu = warp_sum(sum) / (T)cols;
    T squares = 0;
    for (int c = lane; c < cols; c += 32)
    {
        T d = xr[c] - mu;
        squares += d * d;
    }
    T rs = (T)1 / sqrt_of(warp_sum(squares) / (T)cols + eps);
    for (int c = lane; c < cols; c += 32) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
    if (lane == 0)
    {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

extern "C" __global__ void layernorm_forward_f32(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, int rows, int cols, float eps) { layernorm_forward<float>(x, gamma, beta, y, mean, rstd, rows, cols, eps); }
extern "C" __global__ void layernorm_forward_f64(const double* x, const double* gamma, const double* beta, double* y, double* mean, double* rstd, int rows, int cols, double eps) { layernorm_forward<double>(x, gamma, beta, y, mean, rstd, rows, cols, eps); }

extern "C" __global__ void layernorm_forward_f32_vec4(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, int rows, int cols, float eps)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    int n4 = cols / 4;
    const float4* xr = (const float4*)(x + (long long)row * cols);
    float4* yr = (float4*)(y + (long long)row * cols);
    const float4* g4 = (const float4*)gamma;
    const float4* b4 = (const float4*)beta;
    float sum = 0;
    for (int c = lane; c < n4; c += 32)
    {
        float4 v = xr[c];
        sum += v.x + v.y + v.z + v.w;
    }
    float mu = warp_sum(sum) / (float)cols;
    float squares = 0;
    for (int c = lane; c < n4; c += 32)
    {
        float4 v = xr[c];
        float a = v.x - mu, b = v.y - mu, d = v.z - mu, e = v.w - mu;
        squares += a * a + b * b + d * d + e * e;
    }
    float rs = 1.0f / sqrtf(warp_sum(squares) / (float)cols + eps);
    for (int c = lane; c < n4; c += 32)
    {
        float4 v = xr[c], g = g4[c], b = b4[c];
        yr[c] = make_float4((v.x - mu) * rs * g.x + b.x, (v.y - mu) * rs * g.y + b.y, (v.z - mu) * rs * g.z + b.z, (v.w - mu) * rs * g.w + b.w);
    }
    if (lane == 0)
    {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

template <typename T> __device__ void layernorm_backward_input(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
    T* dx, int rows, int cols)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    long long base = (long long)row * cols;
    T mu = mean[row], rs = rstd[row];
    T sum_g = 0, sum_gx = 0;
    for (int c = lane; c < cols; c += 32)
    {
        T g = dy[base + c] * gamma[c];
        sum_g += g;
        sum_gx += g * ((x[base + c] - mu) * rs);
    }
    T mean_g = warp_sum(sum_g) / (T)cols;
    T mean_gx = warp_sum(sum_gx) / (T)cols;
    for (int c = lane; c < cols; c += 32)
    {
        T xhat = (x[base + c] - mu) * rs;
        T g = dy[base + c] * gamma[c];
        dx[base + c] += rs * (g - mean_g - xhat * mean_gx);
    }
}

extern "C" __global__ void layernorm_backward_input_f32(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, int rows, int cols) { layernorm_backward_input<float>(dy, x, gamma, mean, rstd, dx, rows, cols); }
extern "C" __global__ void layernorm_backward_input_f64(const double* dy, const double* x, const double* gamma, const double* mean, const double* rstd, double* dx, int rows, int cols) { layernorm_backward_input<double>(dy, x, gamma, mean, rstd, dx, rows, cols); }

extern "C" __global__ void layernorm_backward_input_f32_vec4(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, int rows, int cols)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    int n4 = cols / 4;
    long long base4 = (long long)row * n4;
    const float4* dy4 = (const float4*)dy + base4;
    const float4* x4 = (const float4*)x + base4;
    const float4* g4 = (const float4*)gamma;
    float4* dx4 = (float4*)dx + base4;
    float mu = mean[row], rs = rstd[row];
    float sum_g = 0, sum_gx = 0;
    for (int c = lane; c < n4; c += 32)
    {
        float4 d = dy4[c], v = x4[c], g = g4[c];
        float a = d.x * g.x, b = d.y * g.y, e = d.z * g.z, f = d.w * g.w;
        sum_g += a + b + e + f;
        sum_gx += a * ((v.x - mu) * rs) + b * ((v.y - mu) * rs) + e * ((v.z - mu) * rs) + f * ((v.w - mu) * rs);
    }
    float mean_g = warp_sum(sum_g) / (float)cols;
    float mean_gx = warp_sum(sum_gx) / (float)cols;
    for (int c = lane; c < n4; c += 32)
    {
        float4 d = dy4[c], v = x4[c], g = g4[c], o = dx4[c];
        o.x += rs * (d.x * g.x - mean_g - (v.x - mu) * rs * mean_gx);
        o.y += rs * (d.y * g.y - mean_g - (v.y - mu) * rs * mean_gx);
        o.z += rs * (d.z * g.z - mean_g - (v.z - mu) * rs * mean_gx);
        o.w += rs * (d.w * g.w - mean_g - (v.w - mu) * rs * mean_gx);
        dx4[c] = o;
    }
}

// Block (32, 8) over 32 adjacent columns and one slice of rows, as reduce.cu's bias_backward.
template <typename T> __device__ void layernorm_backward_params(const T* dy, const T* x, const T* mean, const T* rstd, T* dgamma,
    T* dbeta, int rows, int cols, int rows_per_slice)
{
    __shared__ T partial_gamma[8][32];
    __shared__ T partial_beta[8][32];
    int c = blockIdx.x * 32 + threadIdx.x;
    int first = blockIdx.y * rows_per_slice, last = min(rows, first + rows_per_slice);
    T sum_gamma = 0, sum_beta = 0;
    if (c < cols)
    {
        for (int r = first + threadIdx.y; r < last; r += blockDim.y)
        {
            long long at = (long long)r * cols + c;
            sum_gamma += dy[at] * ((x[at] - mean[r]) * rstd[r]);
            sum_beta += dy[at];
        }
    }
    partial_gamma[threadIdx.y][threadIdx.x] = sum_gamma;
    partial_beta[threadIdx.y][threadIdx.x] = sum_beta;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols)
    {
        T total_gamma = 0, total_beta = 0;
        for (int k = 0; k < (int)blockDim.y; k++)
        {
            total_gamma += partial_gamma[k][threadIdx.x];
            total_beta += partial_beta[k][threadIdx.x];
        }
        if (gridDim.y == 1)
        {
            dgamma[c] += total_gamma;
            dbeta[c] += total_beta;
        }
        else
        {
            atomicAdd(dgamma + c, total_gamma);
            atomicAdd(dbeta + c, total_beta);
        }
    }
}

extern "C" __global__ void layernorm_backward_params_f32(const float* dy, const float* x, const float* mean, const float* rstd, float* dgamma, float* dbeta, int rows, int cols, int rows_per_slice) { layernorm_backward_params<float>(dy, x, mean, rstd, dgamma, dbeta, rows, cols, rows_per_slice); }
extern "C" __global__ void layernorm_backward_params_f64(const double* dy, const double* x, const double* mean, const double* rstd, double* dgamma, double* dbeta, int rows, int cols, int rows_per_slice) { layernorm_backward_params<double>(dy, x, mean, rstd, dgamma, dbeta, rows, cols, rows_per_slice); }
