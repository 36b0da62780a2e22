// activation.cu: pointwise activations, forward y = f(x) and backward dx += dy * f'(x), for
// kind 0 erf GELU 0.5 x (1 + erf(x/sqrt 2)), 1 tanh GELU 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))),
// 2 quick GELU x sigmoid(1.702 x), 3 tanh, 4 relu (the order of the C# Activation enum); and fused with the bias add of
// the linear layer before them: p = x[r, c] + bias[c], y = f(p) and x = f'(p) in one pass (x keeps the derivative, so
// the backward need not evaluate f' again), and backward g = dy * x, dx += g, dBias[c] += sum over r of g in one pass.
// Trick: the kind is a launch argument, so every thread takes the same branch and one kernel serves all five. The
// *_f32_vec4 variants move float4 (16 bytes) per thread when n (for the bias kernels: cols) is a multiple of 4 and the
// pointers are aligned. The fused backward is laid out like reduce.cu's bias_backward (block (32, 8) over 32 adjacent
// columns and a slice of rows, the 8 partial sums of a column added in shared memory in a fixed order, slices meeting
// by one atomicAdd per column), so the pointwise part rides on the column reduction's reads.
#include "common.cuh"

template <typename T> __device__ __forceinline__ T activate(int kind, T x)
{
    switch (kind)
    {
        case 0: return (T)0.5 * x * ((T)1 + erf_of(x * (T)0.70710678118654752440));
        case 1:
        {
            T inner = x * ((T)1 + (T)0.044715 * x * x) * (T)0.79788456080286535588;
            return (T)0.5 * x * ((T)1 + tanh_of(inner));
        }
        case 2: return x / ((T)1 + exp_of((T)-1.702 * x));
        case 3: return tanh_of(x);
        default: return x > (T)0 ? x : (T)0;
    }
}

template <typename T> __device__ __forceinline__ T derivative(int kind, T x)
{
    switch (kind)
    {
        // 0.5 (1 + erf(x/sqrt2)) + x exp(-x^2/2) / sqrt(2 pi)
        case 0: return (T)0.5 * ((T)1 + erf_of(x * (T)0.70710678118654752440)) + x * exp_of((T)-0.5 * x * x) * (T)0.39894228040143267794;
        // 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(inner)
        case 1:
        {
            T k = (T)0.79788456080286535588;
            T t = tanh_of(x * ((T)1 + (T)0.044715 * x * x) * k);
            return (T)0.5 * ((T)1 + t) + (T)0.5 * x * ((T)1 - t * t) * (k * ((T)1 + (T)3 * (T)0.044715 * x * x));
        }
        // s + 1.702 x s (1 - s), s = sigmoid(1.702 x)
        case 2:
        {
            T s = (T)1 / ((T)1 + exp_of((T)-1.702 * x));
            return s + (T)1.702 * x * s * ((T)1 - s);
        }
        case 3:
        {
            T t = tanh_of(x);
            return (T)1 - t * t;
        }
        default: return x > (T)0 ? (T)1 : (T)0;
    }
}

template <typename T> __device__ void activation_forward(int kind, const T* x, T* y, long long n)
{
    GRID_STRIDE_LOOP(i, n) y[i] = activate(kind, x[i]);
}

template <typename T> __device__ void activation_backward(int kind, const T* x, const T* dy, T* dx, long long n)
{
    GRID_STRIDE_LOOP(i, n) dx[i] += dy[i] * derivative(kind, x[i]);
}

extern "C" __global__ void activation_forward_f32(int kind, const float* x, float* y, long long n) { activation_forward<float>(kind, x, y, n); }
extern "C" __global__ void activation_forward_f64(int kind, const double* x, double* y, long long n) { activation_forward<double>(kind, x, y, n); }
extern "C" __global__ void activation_backward_f32(int kind, const float* x, const float* dy, float* dx, long long n) { activation_backward<float>(kind, x, dy, dx, n); }
extern "C" __global__ void activation_backward_f64(int kind, const double* x, const double* dy, double* dx, long long n) { activation_backward<double>(kind, x, dy, dx, n); }

extern "C" __global__ void activation_forward_f32_vec4(int kind, const float* x, float* y, long long n4)
{
    const float4* x4 = (const float4*)x;
    float4* y4 = (float4*)y;
    GRID_STRIDE_LOOP(i, n4)
    {
        float4 v = x4[i];
        y4[i] = make_float4(activate(kind, v.x), activate(kind, v.y), activate(kind, v.z), activate(kind, v.w));
    }
}

extern "C" __global__ void activation_backward_f32_vec4(int kind, const float* x, const float* dy, float* dx, long long n4)
{
    const float4* x4 = (const float4*)x;
    const float4* dy4 = (const float4*)dy;
    float4* dx4 = (float4*)dx;
    GRID_STRIDE_LOOP(i, n4)
    {
        float4 v = x4[i], d = dy4[i], o = dx4[i];
        o.x += d.x * derivative(kind, v.x);
        o.y += d.y * derivative(kind, v.y);
        o.z += d.z * derivative(kind, v.z);
        o.w += d.w * derivative(kind, v.w);
        dx4[i] = o;
    }
}

// p = x[r, c] + bias[c]; y = f(p); x = f'(p). Rows along blockIdx.y (striding), columns along x, as elementwise.cu's
// add_bias.
template <typename T> __device__ void bias_activation_forward(int kind, T* x, const T* bias, T* y, int rows, int cols)
{
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        long long base = (long long)r * cols;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += blockDim.x * gridDim.x)
        {
            T v = x[base + c] + bias[c];
            x[base + c] = derivative(kind, v);
            y[base + c] = activate(kind, v);
        }
    }
}

extern "C" __global__ void bias_activation_forward_f32(int kind, float* x, const float* bias, float* y, int rows, int cols) { bias_activation_forward<float>(kind, x, bias, y, rows, cols); }
extern "C" __global__ void bias_activation_forward_f64(int kind, double* x, const double* bias, double* y, int rows, int cols) { bias_activation_forward<double>(kind, x, bias, y, rows, cols); }

// cols4 = cols / 4 vectors per row.
extern "C" __global__ void bias_activation_forward_f32_vec4(int kind, float* x, const float* bias, float* y, int rows, int cols4)
{
    const float4* b4 = (const float4*)bias;
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        float4* x4 = (float4*)x + (long long)r * cols4;
        float4* y4 = (float4*)y + (long long)r * cols4;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols4; c += blockDim.x * gridDim.x)
        {
            float4 v = x4[c], b = b4[c];
            v = make_float4(v.x + b.x, v.y + b.y, v.z + b.z, v.w + b.w);
            x4[c] = make_float4(derivative(kind, v.x), derivative(kind, v.y), derivative(kind, v.z), derivative(kind, v.w));
            y4[c] = make_float4(activate(kind, v.x), activate(kind, v.y), activate(kind, v.z), activate(kind, v.w));
        }
    }
}

// Gradients of the fused backward: into F32/F64 they accumulate (+=); into BF16 (unsigned short, bf16's hidden layer)
// the gradient is the next GEMMs' operand and is written rounded (=).
template <typename T> __device__ __forceinline__ void store_gradient(T* at, T g) { *at += g; }
__device__ __forceinline__ void store_gradient(unsigned short* at, float g) { *at = float_to_bf16(g); }

// f'(p) from what the forward kept: f'(p) itself in F32/F64, or the BF16 hidden layer's p, whose f' is evaluated here.
template <typename T> __device__ __forceinline__ T derivative_from_kept(int, T kept) { return kept; }
__device__ __forceinline__ float derivative_from_kept(int kind, unsigned short pre) { return derivative(kind, bf16_to_float(pre)); }

// Block (32, 8): column c = blockIdx.x * 32 + threadIdx.x, rows of the slice blockIdx.y strided by threadIdx.y.
// T: dy, dbias and the arithmetic; X and DX: how the kept tensor and dx are stored (T, or BF16 for the hidden layer).
template <typename T, typename X, typename DX> __device__ void bias_activation_backward(int kind, const X* kept, const T* dy, DX* dx,
    T* dbias, int rows, int cols, int rows_per_slice)
{
    int c = blockIdx.x * 32 + threadIdx.x;
    int first = blockIdx.y * rows_per_slice, last = min(rows, first + rows_per_slice);
    T sum = 0;
    if (c < cols)
    {
        for (int r = first + threadIdx.y; r < last; r += blockDim.y)
        {
            long long at = (long long)r * cols + c;
            T g = dy[at] * derivative_from_kept(kind, kept[at]);
            store_gradient(dx + at, g);
            sum += g;
        }
    }
    add_column_partials(sum, c, cols, dbias);
}

extern "C" __global__ void bias_activation_backward_f32(const float* fprime, const float* dy, float* dx, float* dbias, int rows, int cols, int rows_per_slice) { bias_activation_backward<float, float, float>(0, fprime, dy, dx, dbias, rows, cols, rows_per_slice); }
extern "C" __global__ void bias_activation_backward_f64(const double* fprime, const double* dy, double* dx, double* dbias, int rows, int cols, int rows_per_slice) { bias_activation_backward<double, double, double>(0, fprime, dy, dx, dbias, rows, cols, rows_per_slice); }

// bf16 mixed precision's MLP (Ops.Mlp): the hidden layer is kept in BF16, as a BF16 linear output and activation are in
// torch.autocast. Forward from the F32 GEMM output x: pre = bf16(x + bias), y = bf16(f(pre)), the activation of the
// rounded pre-activation (x is only read). Backward from the kept pre: g = dy * f'(pre) with F32 dy, dx = bf16(g)
// (overwritten: it is the next GEMMs' operand) and dbias += column sums of the unrounded g, laid out as
// bias_activation_backward.
extern "C" __global__ void bias_activation_forward_f32_to_bf16(int kind, const float* x, const float* bias, unsigned short* pre,
    unsigned short* y, int rows, int cols)
{
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        long long base = (long long)r * cols;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += blockDim.x * gridDim.x)
        {
            unsigned short p = float_to_bf16(x[base + c] + bias[c]);
            pre[base + c] = p;
            y[base + c] = float_to_bf16(activate(kind, bf16_to_float(p)));
        }
    }
}

extern "C" __global__ void bias_activation_backward_bf16(int kind, const unsigned short* pre, const float* dy, unsigned short* dx, float* dbias, int rows, int cols, int rows_per_slice) { bias_activation_backward<float, unsigned short, unsigned short>(kind, pre, dy, dx, dbias, rows, cols, rows_per_slice); }
