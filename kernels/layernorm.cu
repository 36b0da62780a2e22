// layernorm.cu: layer norm over the last axis of [rows, cols], alone or fused with the residual add before it
// (s = a + b, y = LN(s); add_layernorm_*). The *_bf16 forward variants write y in BF16 (bf16 mixed precision's layer
// norms before a GEMM), the fused one only with the sum kept.
// Forward: one warp per row, two passes over the row (mean, then the centred sum of squares, which is exact where
// E[x^2] - mean^2 would cancel); y = (x - mean) * rstd * gamma + beta; saves mean and rstd = 1/sqrt(var + eps).
// Backward, as llm.c: activations' gradient with one warp per row, dx += rstd * (g - mean(g) - xhat * mean(g*xhat)) with
// g = dy*gamma; the parameters' gradients by a second, column-wise kernel (dGamma += sum dy*xhat, dBeta += sum dy) laid
// out like reduce.cu's bias_backward (row slices along blockIdx.y meet by atomicAdd; one slice is deterministic).
// Everything backward adds (+=). The *_f32_vec4 variants read and write float4 (16 bytes per lane) and are used when cols
// is a multiple of 4 and the pointers are 16-byte aligned (every row then starts aligned).
// Fused residual: each lane writes its elements of s = a + b (into the kept sum, or into y) and the row kernel then
// reads them back from cache in the same lane, so s costs no extra pass. The fused backward, for a sum with no other use,
// recomputes a + b and adds dx into both da and db (either may be null), so s and its gradient are never stored. The
// shared row functions take the input as a, or a + b where b is not null; inlined with b = nullptr they are the plain
// kernels.
#include "common.cuh"

// x[i] = a[i], or a[i] + b[i] when b is given.
template <typename T> __device__ __forceinline__ T input_at(const T* a, const T* b, long long i) { return b ? a[i] + b[i] : a[i]; }

__device__ __forceinline__ float4 input4_at(const float4* a, const float4* b, int i)
{
    float4 v = a[i];
    if (!b) return v;
    float4 w = b[i];
    return make_float4(v.x + w.x, v.y + w.y, v.z + w.z, v.w + w.w);
}

__device__ __forceinline__ void add4(float4* x, int i, float4 v)
{
    float4 t = x[i];
    x[i] = make_float4(t.x + v.x, t.y + v.y, t.z + v.z, t.w + v.w);
}

// Normalises one row; xr may be yr itself (each lane reads only the elements it writes). Y is T, or BF16 (unsigned short)
// for bf16's layer-norm outputs that only feed GEMMs.
template <typename T, typename Y> __device__ __forceinline__ void layernorm_forward_row(const T* xr, const T* gamma, const T* beta, Y* yr, T* mean,
    T* rstd, int row, int lane, int cols, T eps)
{
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
    for (int c = lane; c < cols; c += 32) store_value(yr + c, (xr[c] - mu) * rs * gamma[c] + beta[c]);
    if (lane == 0)
    {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

// The same on float4: n4 = cols / 4 vectors.
__device__ __forceinline__ void layernorm_forward_row_vec4(const float4* xr, const float4* g4, const float4* b4, float4* yr, float* mean,
    float* rstd, int row, int lane, int cols, float eps)
{
    int n4 = cols / 4;
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

template <typename T, typename Y> __device__ void layernorm_forward(const T* x, const T* gamma, const T* beta, Y* y, T* mean, T* rstd,
    int rows, int cols, T eps)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    long long base = (long long)row * cols;
    layernorm_forward_row(x + base, gamma, beta, y + base, mean, rstd, row, lane, cols, eps);
}

// Where s = a + b goes: the kept sum, else y itself (a BF16 y cannot hold it: the host passes a sum then).
template <typename T> __device__ __forceinline__ T* sum_rows(T* sum, T* y) { return sum ? sum : y; }
template <typename T> __device__ __forceinline__ T* sum_rows(T* sum, unsigned short*) { return sum; }

// s = a + b into sum (when kept) or into y, then y = LN(s).
template <typename T, typename Y> __device__ void add_layernorm_forward(const T* a, const T* b, T* sum, const T* gamma, const T* beta, Y* y,
    T* mean, T* rstd, int rows, int cols, T eps)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    long long base = (long long)row * cols;
    T* sr = sum_rows(sum, y) + base;
    for (int c = lane; c < cols; c += 32) sr[c] = a[base + c] + b[base + c];
    layernorm_forward_row(sr, gamma, beta, y + base, mean, rstd, row, lane, cols, eps);
}

extern "C" __global__ void layernorm_forward_f32(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, int rows, int cols, float eps) { layernorm_forward<float, float>(x, gamma, beta, y, mean, rstd, rows, cols, eps); }
extern "C" __global__ void layernorm_forward_f64(const double* x, const double* gamma, const double* beta, double* y, double* mean, double* rstd, int rows, int cols, double eps) { layernorm_forward<double, double>(x, gamma, beta, y, mean, rstd, rows, cols, eps); }
extern "C" __global__ void add_layernorm_forward_f32(const float* a, const float* b, float* sum, const float* gamma, const float* beta, float* y, float* mean, float* rstd, int rows, int cols, float eps) { add_layernorm_forward<float, float>(a, b, sum, gamma, beta, y, mean, rstd, rows, cols, eps); }
extern "C" __global__ void add_layernorm_forward_f64(const double* a, const double* b, double* sum, const double* gamma, const double* beta, double* y, double* mean, double* rstd, int rows, int cols, double eps) { add_layernorm_forward<double, double>(a, b, sum, gamma, beta, y, mean, rstd, rows, cols, eps); }
extern "C" __global__ void layernorm_forward_f32_bf16(const float* x, const float* gamma, const float* beta, unsigned short* y, float* mean, float* rstd, int rows, int cols, float eps) { layernorm_forward<float, unsigned short>(x, gamma, beta, y, mean, rstd, rows, cols, eps); }
extern "C" __global__ void add_layernorm_forward_f32_bf16(const float* a, const float* b, float* sum, const float* gamma, const float* beta, unsigned short* y, float* mean, float* rstd, int rows, int cols, float eps) { add_layernorm_forward<float, unsigned short>(a, b, sum, gamma, beta, y, mean, rstd, rows, cols, eps); }

extern "C" __global__ void layernorm_forward_f32_vec4(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, int rows, int cols, float eps)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    long long base = (long long)row * cols;
    layernorm_forward_row_vec4((const float4*)(x + base), (const float4*)gamma, (const float4*)beta, (float4*)(y + base), mean, rstd, row, lane, cols, eps);
}

extern "C" __global__ void add_layernorm_forward_f32_vec4(const float* a, const float* b, float* sum, const float* gamma, const float* beta, float* y, float* mean, float* rstd, int rows, int cols, float eps)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    long long base = (long long)row * cols;
    const float4* a4 = (const float4*)(a + base);
    const float4* b4 = (const float4*)(b + base);
    float4* s4 = (float4*)((sum ? sum : y) + base);
    for (int c = lane; c < cols / 4; c += 32) s4[c] = input4_at(a4, b4, c);
    layernorm_forward_row_vec4(s4, (const float4*)gamma, (const float4*)beta, (float4*)(y + base), mean, rstd, row, lane, cols, eps);
}

// dx += rstd * (g - mean(g) - xhat * mean(g*xhat)) into dx1 and (when given) dx2, with x = a or a + b.
template <typename T> __device__ __forceinline__ void layernorm_backward_input(const T* dy, const T* a, const T* b, const T* gamma,
    const T* mean, const T* rstd, T* dx1, T* dx2, int rows, int cols)
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
        sum_gx += g * ((input_at(a, b, base + c) - mu) * rs);
    }
    T mean_g = warp_sum(sum_g) / (T)cols;
    T mean_gx = warp_sum(sum_gx) / (T)cols;
    for (int c = lane; c < cols; c += 32)
    {
        T xhat = (input_at(a, b, base + c) - mu) * rs;
        T g = dy[base + c] * gamma[c];
        T d = rs * (g - mean_g - xhat * mean_gx);
        if (dx1) dx1[base + c] += d;
        if (dx2) dx2[base + c] += d;
    }
}

extern "C" __global__ void layernorm_backward_input_f32(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, int rows, int cols) { layernorm_backward_input<float>(dy, x, nullptr, gamma, mean, rstd, dx, nullptr, rows, cols); }
extern "C" __global__ void layernorm_backward_input_f64(const double* dy, const double* x, const double* gamma, const double* mean, const double* rstd, double* dx, int rows, int cols) { layernorm_backward_input<double>(dy, x, nullptr, gamma, mean, rstd, dx, nullptr, rows, cols); }
extern "C" __global__ void add_layernorm_backward_input_f32(const float* dy, const float* a, const float* b, const float* gamma, const float* mean, const float* rstd, float* da, float* db, int rows, int cols) { layernorm_backward_input<float>(dy, a, b, gamma, mean, rstd, da, db, rows, cols); }
extern "C" __global__ void add_layernorm_backward_input_f64(const double* dy, const double* a, const double* b, const double* gamma, const double* mean, const double* rstd, double* da, double* db, int rows, int cols) { layernorm_backward_input<double>(dy, a, b, gamma, mean, rstd, da, db, rows, cols); }

__device__ __forceinline__ void layernorm_backward_input_vec4(const float* dy, const float* a, const float* b, const float* gamma,
    const float* mean, const float* rstd, float* dx1, float* dx2, int rows, int cols)
{
    WARP_ROW(row, lane);
    if (row >= rows) return;
    int n4 = cols / 4;
    long long base4 = (long long)row * n4;
    const float4* dy4 = (const float4*)dy + base4;
    const float4* a4 = (const float4*)a + base4;
    const float4* b4 = b ? (const float4*)b + base4 : nullptr;
    const float4* g4 = (const float4*)gamma;
    float mu = mean[row], rs = rstd[row];
    float sum_g = 0, sum_gx = 0;
    for (int c = lane; c < n4; c += 32)
    {
        float4 d = dy4[c], v = input4_at(a4, b4, c), g = g4[c];
        float p = d.x * g.x, q = d.y * g.y, e = d.z * g.z, f = d.w * g.w;
        sum_g += p + q + e + f;
        sum_gx += p * ((v.x - mu) * rs) + q * ((v.y - mu) * rs) + e * ((v.z - mu) * rs) + f * ((v.w - mu) * rs);
    }
    float mean_g = warp_sum(sum_g) / (float)cols;
    float mean_gx = warp_sum(sum_gx) / (float)cols;
    for (int c = lane; c < n4; c += 32)
    {
        float4 d = dy4[c], v = input4_at(a4, b4, c), g = g4[c];
        float4 o = make_float4(rs * (d.x * g.x - mean_g - (v.x - mu) * rs * mean_gx), rs * (d.y * g.y - mean_g - (v.y - mu) * rs * mean_gx),
            rs * (d.z * g.z - mean_g - (v.z - mu) * rs * mean_gx), rs * (d.w * g.w - mean_g - (v.w - mu) * rs * mean_gx));
        if (dx1) add4((float4*)dx1 + base4, c, o);
        if (dx2) add4((float4*)dx2 + base4, c, o);
    }
}

extern "C" __global__ void layernorm_backward_input_f32_vec4(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd, float* dx, int rows, int cols) { layernorm_backward_input_vec4(dy, x, nullptr, gamma, mean, rstd, dx, nullptr, rows, cols); }
extern "C" __global__ void add_layernorm_backward_input_f32_vec4(const float* dy, const float* a, const float* b, const float* gamma, const float* mean, const float* rstd, float* da, float* db, int rows, int cols) { layernorm_backward_input_vec4(dy, a, b, gamma, mean, rstd, da, db, rows, cols); }

// Block (32, 8) over 32 adjacent columns and one slice of rows, as reduce.cu's bias_backward; x = a or a + b.
template <typename T> __device__ __forceinline__ void layernorm_backward_params(const T* dy, const T* a, const T* b, const T* mean,
    const T* rstd, T* dgamma, T* dbeta, int rows, int cols, int rows_per_slice)
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
            sum_gamma += dy[at] * ((input_at(a, b, at) - mean[r]) * rstd[r]);
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

extern "C" __global__ void layernorm_backward_params_f32(const float* dy, const float* x, const float* mean, const float* rstd, float* dgamma, float* dbeta, int rows, int cols, int rows_per_slice) { layernorm_backward_params<float>(dy, x, nullptr, mean, rstd, dgamma, dbeta, rows, cols, rows_per_slice); }
extern "C" __global__ void layernorm_backward_params_f64(const double* dy, const double* x, const double* mean, const double* rstd, double* dgamma, double* dbeta, int rows, int cols, int rows_per_slice) { layernorm_backward_params<double>(dy, x, nullptr, mean, rstd, dgamma, dbeta, rows, cols, rows_per_slice); }
extern "C" __global__ void add_layernorm_backward_params_f32(const float* dy, const float* a, const float* b, const float* mean, const float* rstd, float* dgamma, float* dbeta, int rows, int cols, int rows_per_slice) { layernorm_backward_params<float>(dy, a, b, mean, rstd, dgamma, dbeta, rows, cols, rows_per_slice); }
extern "C" __global__ void add_layernorm_backward_params_f64(const double* dy, const double* a, const double* b, const double* mean, const double* rstd, double* dgamma, double* dbeta, int rows, int cols, int rows_per_slice) { layernorm_backward_params<double>(dy, a, b, mean, rstd, dgamma, dbeta, rows, cols, rows_per_slice); }
