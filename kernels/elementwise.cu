// elementwise.cu: flat, memory-bound ops: fill, cast between F32/F64/BF16, strided block copies (concat, slicing, token
// selection and their gradients), y = alpha*a + beta*b, y += alpha*x, x *= alpha, x *= factor[0], x[r, c] += bias[c].
// Trick: grid-stride loops with the grid capped by the host at a few waves, so one launch shape serves any length; the
// *_vec4 variants move float4 (16 bytes) per thread and are used when the host finds the pointers 16-byte aligned and n
// a multiple of 4.
#include "common.cuh"

template <typename T> __device__ void fill(T* x, long long n, T value)
{
    GRID_STRIDE_LOOP(i, n) x[i] = value;
}

extern "C" __global__ void fill_f64(double* x, long long n, double value) { fill<double>(x, n, value); }
extern "C" __global__ void fill_bf16(unsigned short* x, long long n, unsigned int bits) { fill<unsigned short>(x, n, (unsigned short)bits); }

extern "C" __global__ void cast_f32_to_f64(const float* x, double* y, long long n) { GRID_STRIDE_LOOP(i, n) y[i] = (double)x[i]; }
extern "C" __global__ void cast_f64_to_f32(const double* x, float* y, long long n) { GRID_STRIDE_LOOP(i, n) y[i] = (float)x[i]; }
extern "C" __global__ void cast_f32_to_bf16(const float* x, unsigned short* y, long long n) { GRID_STRIDE_LOOP(i, n) y[i] = float_to_bf16(x[i]); }
extern "C" __global__ void cast_bf16_to_f32(const unsigned short* x, float* y, long long n) { GRID_STRIDE_LOOP(i, n) y[i] = bf16_to_float(x[i]); }
extern "C" __global__ void cast_f64_to_bf16(const double* x, unsigned short* y, long long n) { GRID_STRIDE_LOOP(i, n) y[i] = float_to_bf16((float)x[i]); }
extern "C" __global__ void cast_bf16_to_f64(const unsigned short* x, double* y, long long n) { GRID_STRIDE_LOOP(i, n) y[i] = (double)bf16_to_float(x[i]); }

// Run b (blockIdx.y, striding by gridDim.y) copies block_length elements; threads along x cover the run.
template <typename T> __device__ void copy_blocks(const T* source, long long source_offset, long long source_stride, T* destination,
    long long destination_offset, long long destination_stride, int block_length, int blocks, int accumulate)
{
    for (int b = blockIdx.y; b < blocks; b += gridDim.y)
    {
        const T* s = source + source_offset + (long long)b * source_stride;
        T* d = destination + destination_offset + (long long)b * destination_stride;
        for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < block_length; i += blockDim.x * gridDim.x)
            d[i] = accumulate ? d[i] + s[i] : s[i];
    }
}

extern "C" __global__ void copy_blocks_f32(const float* source, long long source_offset, long long source_stride, float* destination, long long destination_offset, long long destination_stride, int block_length, int blocks, int accumulate) { copy_blocks<float>(source, source_offset, source_stride, destination, destination_offset, destination_stride, block_length, blocks, accumulate); }
extern "C" __global__ void copy_blocks_f64(const double* source, long long source_offset, long long source_stride, double* destination, long long destination_offset, long long destination_stride, int block_length, int blocks, int accumulate) { copy_blocks<double>(source, source_offset, source_stride, destination, destination_offset, destination_stride, block_length, blocks, accumulate); }

template <typename T> __device__ void add_scaled(const T* a, T alpha, const T* b, T beta, T* y, long long n)
{
    GRID_STRIDE_LOOP(i, n) y[i] = a[i] * alpha + b[i] * beta;
}

template <typename T> __device__ void axpy(T alpha, const T* x, T* y, long long n)
{
    GRID_STRIDE_LOOP(i, n) y[i] += alpha * x[i];
}

template <typename T> __device__ void scale(T* x, T alpha, long long n)
{
    GRID_STRIDE_LOOP(i, n) x[i] *= alpha;
}

template <typename T> __device__ void scale_by_tensor(T* x, const T* factor, long long n)
{
    T f = factor[0];
    GRID_STRIDE_LOOP(i, n) x[i] *= f;
}

extern "C" __global__ void add_scaled_f32(const float* a, float alpha, const float* b, float beta, float* y, long long n) { add_scaled<float>(a, alpha, b, beta, y, n); }
extern "C" __global__ void add_scaled_f64(const double* a, double alpha, const double* b, double beta, double* y, long long n) { add_scaled<double>(a, alpha, b, beta, y, n); }
extern "C" __global__ void axpy_f32(float alpha, const float* x, float* y, long long n) { axpy<float>(alpha, x, y, n); }
extern "C" __global__ void axpy_f64(double alpha, const double* x, double* y, long long n) { axpy<double>(alpha, x, y, n); }
extern "C" __global__ void scale_f32(float* x, float alpha, long long n) { scale<float>(x, alpha, n); }
extern "C" __global__ void scale_f64(double* x, double alpha, long long n) { scale<double>(x, alpha, n); }
extern "C" __global__ void scale_by_tensor_f32(float* x, const float* factor, long long n) { scale_by_tensor<float>(x, factor, n); }
extern "C" __global__ void scale_by_tensor_f64(double* x, const double* factor, long long n) { scale_by_tensor<double>(x, factor, n); }

// float4 versions: n4 = n / 4 vectors.
extern "C" __global__ void add_scaled_f32_vec4(const float* a, float alpha, const float* b, float beta, float* y, long long n4)
{
    const float4* a4 = (const float4*)a;
    const float4* b4 = (const float4*)b;
    float4* y4 = (float4*)y;
    GRID_STRIDE_LOOP(i, n4)
    {
        float4 u = a4[i], v = b4[i];
        y4[i] = make_float4(u.x * alpha + v.x * beta, u.y * alpha + v.y * beta, u.z * alpha + v.z * beta, u.w * alpha + v.w * beta);
    }
}

extern "C" __global__ void axpy_f32_vec4(float alpha, const float* x, float* y, long long n4)
{
    const float4* x4 = (const float4*)x;
    float4* y4 = (float4*)y;
    GRID_STRIDE_LOOP(i, n4)
    {
        float4 u = x4[i], v = y4[i];
        y4[i] = make_float4(v.x + alpha * u.x, v.y + alpha * u.y, v.z + alpha * u.z, v.w + alpha * u.w);
    }
}

// x[r, c] += bias[c] for x [rows, cols]: rows along blockIdx.y (striding), columns along x, so no division per element.
template <typename T> __device__ void add_bias(T* x, const T* bias, int rows, int cols)
{
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        T* xr = x + (long long)r * cols;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += blockDim.x * gridDim.x) xr[c] += bias[c];
    }
}

extern "C" __global__ void add_bias_f32(float* x, const float* bias, int rows, int cols) { add_bias<float>(x, bias, rows, cols); }
extern "C" __global__ void add_bias_f64(double* x, const double* bias, int rows, int cols) { add_bias<double>(x, bias, rows, cols); }

// A linear layer's bias and what follows it, in one pass over [rows, cols] (rows along blockIdx.y, as add_bias):
// add_bias_residual: y[r, c] = (x[r, c] + bias[c]) + residual[r, c], the residual stream the layer joins: add_bias then
//   axpy's sums in their order, so the same values. y may be x.
// add_bias_to_bf16: y[r, c] = bf16(x[r, c] + bias[c]) for F32 x and a BF16 y, bf16's q, k and v: add_bias then a cast.
// The vec4 variants take cols4 = cols / 4 vectors a row (16-byte aligned F32 rows; BF16 rows of 4 values are 8 bytes).
template <typename T> __device__ void add_bias_residual(const T* x, const T* bias, const T* residual, T* y, int rows, int cols)
{
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        long long row = (long long)r * cols;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += blockDim.x * gridDim.x)
        {
            T biased = x[row + c] + bias[c];
            y[row + c] = biased + residual[row + c];
        }
    }
}

extern "C" __global__ void add_bias_residual_f32(const float* x, const float* bias, const float* residual, float* y, int rows, int cols) { add_bias_residual<float>(x, bias, residual, y, rows, cols); }
extern "C" __global__ void add_bias_residual_f64(const double* x, const double* bias, const double* residual, double* y, int rows, int cols) { add_bias_residual<double>(x, bias, residual, y, rows, cols); }

extern "C" __global__ void add_bias_residual_f32_vec4(const float* x, const float* bias, const float* residual, float* y, int rows, int cols4)
{
    const float4* b4 = (const float4*)bias;
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        long long row = (long long)r * cols4;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols4; c += blockDim.x * gridDim.x)
        {
            float4 v = ((const float4*)x)[row + c], b = b4[c], s = ((const float4*)residual)[row + c];
            v = make_float4(v.x + b.x, v.y + b.y, v.z + b.z, v.w + b.w);
            ((float4*)y)[row + c] = make_float4(v.x + s.x, v.y + s.y, v.z + s.z, v.w + s.w);
        }
    }
}

extern "C" __global__ void add_bias_to_bf16(const float* x, const float* bias, unsigned short* y, int rows, int cols)
{
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        long long row = (long long)r * cols;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += blockDim.x * gridDim.x) y[row + c] = float_to_bf16(x[row + c] + bias[c]);
    }
}

extern "C" __global__ void add_bias_to_bf16_vec4(const float* x, const float* bias, unsigned short* y, int rows, int cols4)
{
    const float4* b4 = (const float4*)bias;
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        long long row = (long long)r * cols4;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols4; c += blockDim.x * gridDim.x)
        {
            float4 v = ((const float4*)x)[row + c], b = b4[c];
            uint2 packed;
            packed.x = pack_bf16(v.x + b.x, v.y + b.y);
            packed.y = pack_bf16(v.z + b.z, v.w + b.w);
            ((uint2*)y)[row + c] = packed;
        }
    }
}
