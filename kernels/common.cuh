// common.cuh: what every kernel file shares, written only with the built-ins of the binding contract so that one source
// compiles under NVRTC and under the emulator's g++: bf16 conversion, math overloads for templates over float/double,
// warp and block reductions, the grid-stride loop.
#pragma once

// NVRTC without headers may not define INFINITY (a <math.h> macro); the emulator's g++ gets it from math.h.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

// ---- bf16: the upper 16 bits of an IEEE float, carried as unsigned short ------------------------------------------------

__device__ __forceinline__ float bf16_to_float(unsigned short bits) { return __uint_as_float(((unsigned int)bits) << 16); }

// Round to nearest even; a NaN stays a quiet NaN (as BFloat16.FromSingle on the host).
__device__ __forceinline__ unsigned short float_to_bf16(float value)
{
    unsigned int bits = __float_as_uint(value);
    if (value != value) return (unsigned short)((bits >> 16) | 0x40u); // NaN
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return (unsigned short)(bits >> 16);
}

// Values are computed in float or double and stored in a tensor's type: widen reads one, store_value writes one (a BF16
// element, unsigned short, rounded to nearest even), so one template serves F32/F64 outputs and bf16's BF16 activations.
__device__ __forceinline__ float widen(float v) { return v; }
__device__ __forceinline__ double widen(double v) { return v; }
__device__ __forceinline__ float widen(unsigned short v) { return bf16_to_float(v); }
__device__ __forceinline__ void store_value(float* at, float v) { *at = v; }
__device__ __forceinline__ void store_value(double* at, double v) { *at = v; }
__device__ __forceinline__ void store_value(unsigned short* at, float v) { *at = float_to_bf16(v); }

// bf16 mixed precision's operands of a product that is computed in F32 but read in BF16 (as tensor cores read it).
__device__ __forceinline__ float bf16_round(float value) { return bf16_to_float(float_to_bf16(value)); }

// Two floats rounded to BF16 in one 32-bit word, `lo` in the low half: the pairs of an mma fragment.
__device__ __forceinline__ unsigned int pack_bf16(float lo, float hi)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned int packed;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(hi), "f"(lo));
    return packed;
#else
    return (unsigned int)float_to_bf16(lo) | ((unsigned int)float_to_bf16(hi) << 16);
#endif
}

// ---- math overloads, so templates over T pick the float or the double function -----------------------------------------

__device__ __forceinline__ float exp_of(float x) { return expf(x); }
__device__ __forceinline__ double exp_of(double x) { return exp(x); }
__device__ __forceinline__ float log_of(float x) { return logf(x); }
__device__ __forceinline__ double log_of(double x) { return log(x); }
__device__ __forceinline__ float sqrt_of(float x) { return sqrtf(x); }
__device__ __forceinline__ double sqrt_of(double x) { return sqrt(x); }
__device__ __forceinline__ float tanh_of(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_of(double x) { return tanh(x); }
__device__ __forceinline__ float erf_of(float x) { return erff(x); }
__device__ __forceinline__ double erf_of(double x) { return erf(x); }
__device__ __forceinline__ float max_of(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double max_of(double a, double b) { return fmax(a, b); }
__device__ __forceinline__ float min_of(float a, float b) { return fminf(a, b); }
__device__ __forceinline__ double min_of(double a, double b) { return fmin(a, b); }

// ---- reductions -----------------------------------------------------------------------------------------------------------

// Butterfly over the 32 lanes: every lane ends with the total. All 32 lanes must be present.
template <typename T> __device__ __forceinline__ T warp_sum(T v)
{
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

template <typename T> __device__ __forceinline__ T warp_max(T v)
{
    for (int offset = 16; offset > 0; offset >>= 1) v = max_of(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Sum over a 1-D block whose size is a multiple of 32; every thread gets the total. Every thread of the block must call it.
template <typename T> __device__ T block_sum(T v)
{
    __shared__ T partial[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads(); // the previous call's readers are done with partial
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    T total = lane < warps ? partial[lane] : (T)0;
    return warp_sum(total);
}

// Ends a column sum over a (32, 8) block: each thread holds its rows' partial sum of column c; the 8 partials of a column
// are added in a fixed order and the total added into out[c], by atomicAdd when several row slices (gridDim.y > 1) share
// the column. Every thread of the block must call it.
template <typename T> __device__ void add_column_partials(T sum, int c, int cols, T* out)
{
    __shared__ T partial[8][32];
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols)
    {
        T total = 0;
        for (int k = 0; k < (int)blockDim.y; k++) total += partial[k][threadIdx.x];
        if (gridDim.y == 1) out[c] += total;
        else atomicAdd(out + c, total);
    }
}

// ---- tensor cores ---------------------------------------------------------------------------------------------------------

// d += A B for one warp's 16x8x16 tile, BF16 A and B, F32 d: PTX's mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// (sm_80 and later; the host launches its callers only there). With g = lane / 4 and t = lane % 4, each word holding two
// BF16 values, the lower k in its low half:
//   a[0] = A[g][2t, 2t+1]     a[1] = A[g+8][2t, 2t+1]     a[2] = A[g][2t+8, 2t+9]     a[3] = A[g+8][2t+8, 2t+9]
//   b[0] = B[2t, 2t+1][g]     b[1] = B[2t+8, 2t+9][g]
//   d[0] = D[g][2t]  d[1] = D[g][2t+1]  d[2] = D[g+8][2t]  d[3] = D[g+8][2t+1]
// Every lane of the warp calls it together. Under the emulator its prelude computes the same fragments on the CPU.
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const unsigned int (&a)[4], const unsigned int (&b)[2])
{
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();
#endif
#else
    medclip_emu::mma_m16n8k16_bf16(d, a, b);
#endif
}

// ---- attention (attention.cu and attention_tc.cu) ------------------------------------------------------------------------

// Where row `token` of head h in batch b starts, for a [batch, tokens, heads*D] tensor.
template <int D> __device__ __forceinline__ long long head_row(int b, int token, int h, int heads, int tokens)
{
    return ((long long)b * tokens + token) * heads * D + (long long)h * D;
}

// The backward's row statistics of queries [start, start + count) of head row bh into shared memory: lse (+inf past the
// last token, so p = 0 there) and delta (0 there).
template <typename T> __device__ void load_row_statistics(const T* lse, const T* delta, int bh, int tokens, int start, int count, T* lses,
    T* deltas)
{
    for (int r = threadIdx.x; r < count; r += blockDim.x)
    {
        int token = start + r;
        lses[r] = token < tokens ? lse[(long long)bh * tokens + token] : (T)INFINITY;
        deltas[r] = token < tokens ? delta[(long long)bh * tokens + token] : (T)0;
    }
}

// kept[r] = 1 for a real, unpadded key start + r; 0 for padding or past the last token.
__device__ void load_kept(const int* key_mask, int b, int tokens, int start, int count, int* kept)
{
    for (int r = threadIdx.x; r < count; r += blockDim.x)
    {
        int token = start + r;
        kept[r] = token < tokens && (!key_mask || key_mask[(long long)b * tokens + token] != 0) ? 1 : 0;
    }
}

// ---- loops ----------------------------------------------------------------------------------------------------------------

// i runs over [0, n) spread across the whole grid; the host caps the grid at a few waves.
#define GRID_STRIDE_LOOP(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// One warp per row: the row this warp owns and the thread's lane (blockDim.x a multiple of 32, rows along blockIdx.x).
#define WARP_ROW(row, lane) \
    int row = (int)(blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32); \
    int lane = (int)(threadIdx.x % 32)

// Error word codes (int[4] on the device: code, position, value, limit), checked by the host at its next synchronisation.
#define ERROR_EMBEDDING_ID 1
#define ERROR_TARGET 2

__device__ __forceinline__ void report_error(int* err, int code, int position, int value, int limit)
{
    if (atomicMax(err, code) == 0)
    {
        err[1] = position;
        err[2] = value;
        err[3] = limit;
    }
}
