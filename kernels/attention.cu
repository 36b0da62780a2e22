// attention.cu: fused multi-head attention in the style of FlashAttention, on q, k, v laid out [batch, tokens, heads*dim]
// as the projections write them (no head split, no permute) with the key padding mask of softmax.cu. Neither the scores
// nor the probabilities are stored: the forward keeps the output and, per query row, the log-sum-exp of its scaled scores
// (lse, [batch, heads, tokens]); the backward recomputes p = exp(s - lse) tile by tile.
//
// With s_ij = scale * q_i . k_j over the kept keys j, p_ij = exp(s_ij - lse_i), o_i = sum_j p_ij v_j:
//   forward   one thread per query row, keys in shared-memory tiles, online softmax (running max m, sum l, output acc);
//   delta     delta_i = dO_i . o_i (= sum_j p_ij dp_ij);
//   dq        one thread per query row: dp_ij = dO_i . v_j, ds_ij = p_ij (dp_ij - delta_i), dq_i += scale sum_j ds_ij k_j;
//   dk, dv    one thread per key row, queries in tiles: dv_j += sum_i p_ij dO_i, dk_j += scale sum_i ds_ij q_i.
// Padded keys get probability 0 exactly; a query row whose keys are all padded gets output 0 and lse = +inf, so its
// backward is 0, as softmax.cu's zero row. Sums run in the tensors' type (F32 or F64); the head dimension is a template
// argument (8, 16, 32 or 64) so that a thread's rows live in registers. Under bf16 mixed precision o is BF16 (the
// *_f32_*_bf16 forward writes it from F32 inputs, delta reads it back widened), and with q, k, v stored in BF16 too the
// *_bf16_d* kernels read them widened and round p, ds and dO as the tensor-core kernels at the end of this file (*_tc_*,
// used instead on sm_80 and later for D = 16, 32, 64) do; the statistics, sums and gradients stay F32.
//
// Tile sizes (the host's launch mirrors them; static shared memory stays under 48 KiB for F64 and D = 64):
//   forward  64 query threads,                   key tile 64 (F32) / 32 (F64)
//   dq       64 (F32) / 32 (F64) query threads,  key tile 32 (F32) / 16 (F64), the thread's dO row in shared memory
//   dk, dv   64 (F32) / 32 (F64) key threads,    query tile 16 (F32) / 8 (F64), the thread's k and v rows in shared memory
// Shared rows that one thread reads alone are padded to D + 1 elements, an odd stride, so a warp's reads of its 32 rows
// fall in 32 different banks; rows that every thread reads at once (broadcast) are not padded and are 16-byte aligned,
// so that the compiler may read them four floats at a time.
#include "common.cuh"

template <typename T> struct AttentionTiles;
template <> struct AttentionTiles<float>
{
    static const int forward_keys = 64, dq_queries = 64, dq_keys = 32, dkdv_keys = 64, dkdv_queries = 16;
};
template <> struct AttentionTiles<double>
{
    static const int forward_keys = 32, dq_queries = 32, dq_keys = 16, dkdv_keys = 32, dkdv_queries = 8;
};

#define ATTENTION_QUERY_THREADS 64

// Where row `token` of head h in batch b starts, for a [batch, tokens, heads*D] tensor.
template <int D> __device__ __forceinline__ long long head_row(int b, int token, int h, int heads, int tokens)
{
    return ((long long)b * tokens + token) * heads * D + (long long)h * D;
}

// With bf16's BF16 inputs (I = unsigned short) p, ds and dO enter their products rounded to BF16, as the tensor-core
// kernels below read them; sums and statistics stay unrounded.
template <typename I, typename T> struct Operand
{
    static const bool rounds = false;
    static __device__ __forceinline__ T of(T x) { return x; }
};
template <> struct Operand<unsigned short, float>
{
    static const bool rounds = true;
    static __device__ __forceinline__ float of(float x) { return bf16_round(x); }
};

// Loads rows [start, start + count) of head (b, h) into rows[count][stride] (zeros past the last token), spread over the block.
// x is stored as X: T, or BF16 for bf16's q, k and v (widened as they are loaded); Round rounds F32 values to BF16 (dO).
template <typename T, int D, typename X, bool Round = false> __device__ void load_head_rows(const X* x, int b, int h, int heads, int tokens,
    int start, int count, T* rows, int stride)
{
    for (int e = threadIdx.x; e < count * D; e += blockDim.x)
    {
        int r = e / D, c = e % D, token = start + r;
        T value = token < tokens ? (T)widen(x[head_row<D>(b, token, h, heads, tokens) + c]) : (T)0;
        rows[r * stride + c] = Round ? Operand<unsigned short, T>::of(value) : value;
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

// Keys [start, start + KT) of head (b, h) into shared memory: k and v rows and the kept flags, between two barriers (the
// previous tile's readers are done before it; the tile is complete after it). Every thread of the block calls it.
template <typename T, int D, typename I> __device__ void load_key_tile(const I* k, const I* v, const int* key_mask, int b, int h, int heads,
    int tokens, int start, int KT, T* ks, T* vs, int* kept)
{
    __syncthreads();
    load_head_rows<T, D>(k, b, h, heads, tokens, start, KT, ks, D);
    load_head_rows<T, D>(v, b, h, heads, tokens, start, KT, vs, D);
    load_kept(key_mask, b, tokens, start, KT, kept);
    __syncthreads();
}

// x . y over a head's D values, x in registers.
template <typename T, int D> __device__ __forceinline__ T dot_row(const T (&x)[D], const T* y)
{
    T s = 0;
#pragma unroll
    for (int c = 0; c < D; c++) s += x[c] * y[c];
    return s;
}

// grid (batch*heads, query tiles), block ATTENTION_QUERY_THREADS. The output o is in the tensors' type, or (O = unsigned
// short) in BF16: under bf16 mixed precision the output projection reads it as its GEMM operand directly, and the
// backward's delta reads it back widened.
template <typename T, int D, typename I, typename O> __device__ void attention_forward(const I* q, const I* k, const I* v, const int* key_mask,
    O* o, T* lse, int heads, int tokens, T scale)
{
    const int KT = AttentionTiles<T>::forward_keys;
    __shared__ __align__(16) T ks[KT * D];
    __shared__ __align__(16) T vs[KT * D];
    __shared__ int kept[KT];
    int bh = blockIdx.x, b = bh / heads, h = bh % heads;
    int i = blockIdx.y * blockDim.x + threadIdx.x;
    bool active = i < tokens;
    T qi[D], acc[D];
    long long row = active ? head_row<D>(b, i, h, heads, tokens) : 0;
#pragma unroll
    for (int c = 0; c < D; c++)
    {
        qi[c] = active ? (T)widen(q[row + c]) * scale : (T)0;
        acc[c] = 0;
    }
    T m = (T)(-INFINITY), l = 0;
    for (int start = 0; start < tokens; start += KT)
    {
        load_key_tile<T, D>(k, v, key_mask, b, h, heads, tokens, start, KT, ks, vs, kept);
        if (!active) continue;
        int count = min(KT, tokens - start);
        if (Operand<I, T>::rounds)
        {
            // bf16: p is rounded relative to the running maximum after the whole tile, as the tensor-core kernel has it
            // (tiles of 64 keys both): the tile's maximum first, then its keys.
            T tile_max = (T)(-INFINITY);
            for (int j = 0; j < count; j++)
            {
                if (kept[j]) tile_max = max_of(tile_max, dot_row<T, D>(qi, ks + j * D));
            }
            T next = max_of(m, tile_max);
            T base = next == (T)(-INFINITY) ? (T)0 : next; // every key so far padded: exp gives 0, not NaN
            T rescale = exp_of(m - base);
            l *= rescale;
#pragma unroll
            for (int c = 0; c < D; c++) acc[c] *= rescale;
            m = next;
            for (int j = 0; j < count; j++)
            {
                if (!kept[j]) continue;
                T p = exp_of(dot_row<T, D>(qi, ks + j * D) - base);
                l += p;
                p = Operand<I, T>::of(p);
                const T* vj = vs + j * D;
#pragma unroll
                for (int c = 0; c < D; c++) acc[c] += p * vj[c];
            }
            continue;
        }
        for (int j = 0; j < count; j++)
        {
            if (!kept[j]) continue;
            const T* kj = ks + j * D;
            const T* vj = vs + j * D;
            T s = dot_row<T, D>(qi, kj);
            if (s > m)
            {
                // A new running maximum: rescale what was summed against the old one (exp(-inf) = 0 the first time).
                T rescale = exp_of(m - s);
                l *= rescale;
#pragma unroll
                for (int c = 0; c < D; c++) acc[c] *= rescale;
                m = s;
            }
            T p = exp_of(s - m);
            l += p;
#pragma unroll
            for (int c = 0; c < D; c++) acc[c] += p * vj[c];
        }
    }
    if (!active) return;
    T inverse = l > 0 ? (T)1 / l : (T)0;
#pragma unroll
    for (int c = 0; c < D; c++) store_value(o + row + c, acc[c] * inverse);
    lse[(long long)bh * tokens + i] = l > 0 ? m + log_of(l) : (T)INFINITY;
}

extern "C" __global__ void attention_forward_f32_d8(const float* q, const float* k, const float* v, const int* key_mask, float* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 8, float, float>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f32_d16(const float* q, const float* k, const float* v, const int* key_mask, float* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 16, float, float>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f32_d32(const float* q, const float* k, const float* v, const int* key_mask, float* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 32, float, float>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f32_d64(const float* q, const float* k, const float* v, const int* key_mask, float* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 64, float, float>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f64_d8(const double* q, const double* k, const double* v, const int* key_mask, double* o, double* lse, int heads, int tokens, double scale) { attention_forward<double, 8, double, double>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f64_d16(const double* q, const double* k, const double* v, const int* key_mask, double* o, double* lse, int heads, int tokens, double scale) { attention_forward<double, 16, double, double>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f64_d32(const double* q, const double* k, const double* v, const int* key_mask, double* o, double* lse, int heads, int tokens, double scale) { attention_forward<double, 32, double, double>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f64_d64(const double* q, const double* k, const double* v, const int* key_mask, double* o, double* lse, int heads, int tokens, double scale) { attention_forward<double, 64, double, double>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f32_d8_bf16(const float* q, const float* k, const float* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 8, float, unsigned short>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f32_d16_bf16(const float* q, const float* k, const float* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 16, float, unsigned short>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f32_d32_bf16(const float* q, const float* k, const float* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 32, float, unsigned short>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_f32_d64_bf16(const float* q, const float* k, const float* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 64, float, unsigned short>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_bf16_d8(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 8, unsigned short, unsigned short>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_bf16_d16(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 16, unsigned short, unsigned short>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_bf16_d32(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 32, unsigned short, unsigned short>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_bf16_d64(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward<float, 64, unsigned short, unsigned short>(q, k, v, key_mask, o, lse, heads, tokens, scale); }

// delta[(b*heads + h)*tokens + i] = dO_i . o_i over the head's dim columns; grid-stride over batch*heads*tokens rows.
// With bf16's BF16 inputs (I) dO is rounded as the products read it.
template <typename T, typename O, typename I> __device__ void attention_delta(const O* o, const T* d_o, T* delta, int heads, int tokens, int dim, long long rows)
{
    GRID_STRIDE_LOOP(r, rows)
    {
        long long bh = r / tokens;
        int i = (int)(r % tokens), b = (int)(bh / heads), h = (int)(bh % heads);
        long long row = ((long long)b * tokens + i) * heads * dim + (long long)h * dim;
        T sum = 0;
        for (int c = 0; c < dim; c++) sum += Operand<I, T>::of(d_o[row + c]) * widen(o[row + c]);
        delta[r] = sum;
    }
}

extern "C" __global__ void attention_delta_f32(const float* o, const float* d_o, float* delta, int heads, int tokens, int dim, long long rows) { attention_delta<float, float, float>(o, d_o, delta, heads, tokens, dim, rows); }
extern "C" __global__ void attention_delta_f64(const double* o, const double* d_o, double* delta, int heads, int tokens, int dim, long long rows) { attention_delta<double, double, double>(o, d_o, delta, heads, tokens, dim, rows); }
extern "C" __global__ void attention_delta_f32_bf16(const unsigned short* o, const float* d_o, float* delta, int heads, int tokens, int dim, long long rows) { attention_delta<float, unsigned short, float>(o, d_o, delta, heads, tokens, dim, rows); }
extern "C" __global__ void attention_delta_bf16(const unsigned short* o, const float* d_o, float* delta, int heads, int tokens, int dim, long long rows) { attention_delta<float, unsigned short, unsigned short>(o, d_o, delta, heads, tokens, dim, rows); }

// grid (batch*heads, query tiles), block AttentionTiles<T>::dq_queries. dq += scale * sum_j ds_ij k_j.
template <typename T, int D, typename I> __device__ void attention_backward_dq(const I* q, const I* k, const I* v, const int* key_mask, const T* d_o,
    const T* lse, const T* delta, T* dq, int heads, int tokens, T scale)
{
    const int QT = AttentionTiles<T>::dq_queries, KT = AttentionTiles<T>::dq_keys;
    __shared__ __align__(16) T ks[KT * D];
    __shared__ __align__(16) T vs[KT * D];
    __shared__ T dos[QT * (D + 1)];
    __shared__ int kept[KT];
    int bh = blockIdx.x, b = bh / heads, h = bh % heads;
    int first = blockIdx.y * QT, i = first + threadIdx.x;
    bool active = i < tokens;
    load_head_rows<T, D, T, Operand<I, T>::rounds>(d_o, b, h, heads, tokens, first, QT, dos, D + 1);
    T qi[D], acc[D];
    long long row = active ? head_row<D>(b, i, h, heads, tokens) : 0;
#pragma unroll
    for (int c = 0; c < D; c++)
    {
        qi[c] = active ? (T)widen(q[row + c]) * scale : (T)0;
        acc[c] = 0;
    }
    T lse_i = active ? lse[(long long)bh * tokens + i] : (T)INFINITY;
    T delta_i = active ? delta[(long long)bh * tokens + i] : (T)0;
    const T* doi = dos + threadIdx.x * (D + 1);
    for (int start = 0; start < tokens; start += KT)
    {
        load_key_tile<T, D>(k, v, key_mask, b, h, heads, tokens, start, KT, ks, vs, kept);
        if (!active) continue;
        int count = min(KT, tokens - start);
        for (int j = 0; j < count; j++)
        {
            if (!kept[j]) continue;
            const T* kj = ks + j * D;
            const T* vj = vs + j * D;
            T s = 0, dp = 0;
#pragma unroll
            for (int c = 0; c < D; c++)
            {
                s += qi[c] * kj[c];
                dp += doi[c] * vj[c];
            }
            T ds = Operand<I, T>::of(exp_of(s - lse_i) * (dp - delta_i));
#pragma unroll
            for (int c = 0; c < D; c++) acc[c] += ds * kj[c];
        }
    }
    if (!active) return;
#pragma unroll
    for (int c = 0; c < D; c++) dq[row + c] += acc[c] * scale;
}

extern "C" __global__ void attention_backward_dq_f32_d8(const float* q, const float* k, const float* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq<float, 8, float>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_f32_d16(const float* q, const float* k, const float* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq<float, 16, float>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_f32_d32(const float* q, const float* k, const float* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq<float, 32, float>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_f32_d64(const float* q, const float* k, const float* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq<float, 64, float>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_f64_d8(const double* q, const double* k, const double* v, const int* key_mask, const double* d_o, const double* lse, const double* delta, double* dq, int heads, int tokens, double scale) { attention_backward_dq<double, 8, double>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_f64_d16(const double* q, const double* k, const double* v, const int* key_mask, const double* d_o, const double* lse, const double* delta, double* dq, int heads, int tokens, double scale) { attention_backward_dq<double, 16, double>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_f64_d32(const double* q, const double* k, const double* v, const int* key_mask, const double* d_o, const double* lse, const double* delta, double* dq, int heads, int tokens, double scale) { attention_backward_dq<double, 32, double>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_f64_d64(const double* q, const double* k, const double* v, const int* key_mask, const double* d_o, const double* lse, const double* delta, double* dq, int heads, int tokens, double scale) { attention_backward_dq<double, 64, double>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_bf16_d8(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq<float, 8, unsigned short>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_bf16_d16(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq<float, 16, unsigned short>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_bf16_d32(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq<float, 32, unsigned short>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_bf16_d64(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq<float, 64, unsigned short>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }

// grid (batch*heads, key tiles), block AttentionTiles<T>::dkdv_keys. dv_j += sum_i p_ij dO_i, dk_j += scale * sum_i ds_ij q_i.
template <typename T, int D, typename I> __device__ void attention_backward_dkdv(const I* q, const I* k, const I* v, const int* key_mask, const T* d_o,
    const T* lse, const T* delta, T* dk, T* dv, int heads, int tokens, T scale)
{
    const int KT = AttentionTiles<T>::dkdv_keys, QT = AttentionTiles<T>::dkdv_queries;
    __shared__ T kown[KT * (D + 1)];
    __shared__ T vown[KT * (D + 1)];
    __shared__ __align__(16) T qs[QT * D];
    __shared__ __align__(16) T dos[QT * D];
    __shared__ T lses[QT];
    __shared__ T deltas[QT];
    __shared__ int kept[KT];
    int bh = blockIdx.x, b = bh / heads, h = bh % heads;
    int first = blockIdx.y * KT, j = first + threadIdx.x;
    load_head_rows<T, D>(k, b, h, heads, tokens, first, KT, kown, D + 1);
    load_head_rows<T, D>(v, b, h, heads, tokens, first, KT, vown, D + 1);
    load_kept(key_mask, b, tokens, first, KT, kept);
    __syncthreads();
    bool active = kept[threadIdx.x] != 0;
    const T* kj = kown + threadIdx.x * (D + 1);
    const T* vj = vown + threadIdx.x * (D + 1);
    T dk_acc[D], dv_acc[D];
#pragma unroll
    for (int c = 0; c < D; c++)
    {
        dk_acc[c] = 0;
        dv_acc[c] = 0;
    }
    for (int start = 0; start < tokens; start += QT)
    {
        __syncthreads();
        load_head_rows<T, D>(q, b, h, heads, tokens, start, QT, qs, D);
        load_head_rows<T, D, T, Operand<I, T>::rounds>(d_o, b, h, heads, tokens, start, QT, dos, D);
        for (int r = threadIdx.x; r < QT; r += blockDim.x)
        {
            int token = start + r;
            lses[r] = token < tokens ? lse[(long long)bh * tokens + token] : (T)INFINITY;
            deltas[r] = token < tokens ? delta[(long long)bh * tokens + token] : (T)0;
        }
        __syncthreads();
        if (!active) continue;
        int count = min(QT, tokens - start);
        for (int r = 0; r < count; r++)
        {
            const T* qr = qs + r * D;
            const T* dor = dos + r * D;
            T s = 0, dp = 0;
#pragma unroll
            for (int c = 0; c < D; c++)
            {
                s += qr[c] * scale * kj[c];
                dp += dor[c] * vj[c];
            }
            T p = exp_of(s - lses[r]);
            T ds = Operand<I, T>::of(p * (dp - deltas[r]));
            p = Operand<I, T>::of(p);
#pragma unroll
            for (int c = 0; c < D; c++)
            {
                dv_acc[c] += p * dor[c];
                dk_acc[c] += ds * qr[c];
            }
        }
    }
    if (!active) return;
    long long row = head_row<D>(b, j, h, heads, tokens);
#pragma unroll
    for (int c = 0; c < D; c++)
    {
        dk[row + c] += dk_acc[c] * scale;
        dv[row + c] += dv_acc[c];
    }
}

extern "C" __global__ void attention_backward_dkdv_f32_d8(const float* q, const float* k, const float* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv<float, 8, float>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_f32_d16(const float* q, const float* k, const float* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv<float, 16, float>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_f32_d32(const float* q, const float* k, const float* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv<float, 32, float>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_f32_d64(const float* q, const float* k, const float* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv<float, 64, float>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_f64_d8(const double* q, const double* k, const double* v, const int* key_mask, const double* d_o, const double* lse, const double* delta, double* dk, double* dv, int heads, int tokens, double scale) { attention_backward_dkdv<double, 8, double>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_f64_d16(const double* q, const double* k, const double* v, const int* key_mask, const double* d_o, const double* lse, const double* delta, double* dk, double* dv, int heads, int tokens, double scale) { attention_backward_dkdv<double, 16, double>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_f64_d32(const double* q, const double* k, const double* v, const int* key_mask, const double* d_o, const double* lse, const double* delta, double* dk, double* dv, int heads, int tokens, double scale) { attention_backward_dkdv<double, 32, double>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_f64_d64(const double* q, const double* k, const double* v, const int* key_mask, const double* d_o, const double* lse, const double* delta, double* dk, double* dv, int heads, int tokens, double scale) { attention_backward_dkdv<double, 64, double>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_bf16_d8(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv<float, 8, unsigned short>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_bf16_d16(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv<float, 16, unsigned short>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_bf16_d32(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv<float, 32, unsigned short>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_bf16_d64(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv<float, 64, unsigned short>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }

// ---- tensor cores: bf16 mixed precision on sm_80 and later ------------------------------------------------------------------
//
// The same three passes for BF16 q, k, v with D = 16, 32 or 64, the products on tensor cores (mma_m16n8k16_bf16 of
// common.cuh) in the way of FlashAttention-2: a block of 4 warps owns 64 rows (queries for the forward and dq, keys for
// dk and dv), each warp 16 of them, and walks the other side in shared-memory tiles of 64. Scores, probabilities and
// their gradients stay in the warp's accumulator fragments; p and ds become the A operand of the next product by
// rounding them to BF16 in place (a 16x8 accumulator pair has the layout of a 16x16 A fragment), and dO is read
// rounded to BF16. Those roundings are the definition of bf16's fused attention: the CUDA-core kernels above and the
// CPU reference apply them too (bf16_round). Softmax statistics, lse, delta and the accumulators are F32.
//
// Shared rows hold D + 8 (or 64 + 8) BF16 values: the extra 16 bytes put the 8 rows one fragment load touches in 8
// different bank groups. Operands whose product runs along the rows' other axis are stored transposed while loading
// (v for o += p v, k for dq += ds k, q and dO for dk += ds^T q and dv += p^T dO).

#define TC_THREADS 128
#define TC_ROWS 64
#define TC_TILE 64

// Two consecutive values of a row as one BF16 pair: BF16 tensors as stored, F32 ones (dO) rounded.
__device__ __forceinline__ unsigned int bf16_pair(const unsigned short* x, long long at) { return *(const unsigned int*)(x + at); }
__device__ __forceinline__ unsigned int bf16_pair(const float* x, long long at) { return pack_bf16(x[at], x[at + 1]); }

// Rows [start, start + TC_TILE) of head (b, h) into shared memory as BF16, rows[r * (D + 8) + c] (zeros past the last
// token), or transposed, cols[c * (TC_TILE + 8) + r]. Every thread of the block calls them.
template <int D, typename X> __device__ void tc_load_rows(const X* x, int b, int h, int heads, int tokens, int start, unsigned short* rows)
{
    for (int e = threadIdx.x; e < TC_TILE * D / 2; e += blockDim.x)
    {
        int r = e / (D / 2), c = 2 * (e % (D / 2)), token = start + r;
        *(unsigned int*)(rows + r * (D + 8) + c) = token < tokens ? bf16_pair(x, head_row<D>(b, token, h, heads, tokens) + c) : 0u;
    }
}

template <int D, typename X> __device__ void tc_load_cols(const X* x, int b, int h, int heads, int tokens, int start, unsigned short* cols)
{
    for (int e = threadIdx.x; e < TC_TILE * D / 2; e += blockDim.x)
    {
        int r = e / (D / 2), c = 2 * (e % (D / 2)), token = start + r;
        unsigned int pair = token < tokens ? bf16_pair(x, head_row<D>(b, token, h, heads, tokens) + c) : 0u;
        cols[c * (TC_TILE + 8) + r] = (unsigned short)(pair & 0xffffu);
        cols[(c + 1) * (TC_TILE + 8) + r] = (unsigned short)(pair >> 16);
    }
}

// The A fragments of 16 rows starting at `row0` of head (b, h), read from global memory: rows past the last token are 0.
template <int D, typename X> __device__ void tc_load_a(const X* x, int b, int h, int heads, int tokens, int row0, unsigned int (&a)[D / 16][4])
{
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    int lo = row0 + g, hi = lo + 8;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
    {
        int c = kk * 16 + 2 * t;
        a[kk][0] = lo < tokens ? bf16_pair(x, head_row<D>(b, lo, h, heads, tokens) + c) : 0u;
        a[kk][1] = hi < tokens ? bf16_pair(x, head_row<D>(b, hi, h, heads, tokens) + c) : 0u;
        a[kk][2] = lo < tokens ? bf16_pair(x, head_row<D>(b, lo, h, heads, tokens) + c + 8) : 0u;
        a[kk][3] = hi < tokens ? bf16_pair(x, head_row<D>(b, hi, h, heads, tokens) + c + 8) : 0u;
    }
}

template <int N> __device__ __forceinline__ void tc_zero(float (&acc)[N][4])
{
#pragma unroll
    for (int n = 0; n < N; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
}

// acc[n] = A (16 x D, fragments a) times the 8 shared rows n*8.. (n < TC_TILE / 8) as columns: a tile of scores.
template <int D> __device__ __forceinline__ void tc_rows_times_tile(const unsigned int (&a)[D / 16][4], const unsigned short* rows,
    float (&acc)[TC_TILE / 8][4])
{
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    tc_zero(acc);
#pragma unroll
    for (int n = 0; n < TC_TILE / 8; n++)
    {
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++)
        {
            const unsigned short* at = rows + (n * 8 + g) * (D + 8) + kk * 16 + 2 * t;
            unsigned int bfrag[2] = {*(const unsigned int*)at, *(const unsigned int*)(at + 8)};
            mma_m16n8k16_bf16(acc[n], a[kk], bfrag);
        }
    }
}

// out[nd] += P (16 x TC_TILE, the accumulator tile p rounded to BF16) times the tile's columns (cols, D x TC_TILE).
template <int D> __device__ __forceinline__ void tc_tile_times_cols(const float (&p)[TC_TILE / 8][4], const unsigned short* cols,
    float (&out)[D / 8][4])
{
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll
    for (int kk = 0; kk < TC_TILE / 16; kk++)
    {
        unsigned int a[4] = {pack_bf16(p[2 * kk][0], p[2 * kk][1]), pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                             pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]), pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
        for (int nd = 0; nd < D / 8; nd++)
        {
            const unsigned short* at = cols + (nd * 8 + g) * (TC_TILE + 8) + kk * 16 + 2 * t;
            unsigned int bfrag[2] = {*(const unsigned int*)at, *(const unsigned int*)(at + 8)};
            mma_m16n8k16_bf16(out[nd], a, bfrag);
        }
    }
}

// Max and sum over the 4 lanes (t = 0..3) that share a fragment row.
__device__ __forceinline__ float quad_max(float v)
{
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v)
{
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// grid (batch*heads, query tiles of TC_ROWS), block TC_THREADS.
template <int D> __device__ void attention_forward_tc(const unsigned short* q, const unsigned short* k, const unsigned short* v,
    const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale)
{
    __shared__ __align__(16) unsigned short ks[TC_TILE * (D + 8)];
    __shared__ __align__(16) unsigned short vt[D * (TC_TILE + 8)];
    __shared__ int kept[TC_TILE];
    int bh = blockIdx.x, b = bh / heads, h = bh % heads;
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    int row0 = blockIdx.y * TC_ROWS + (threadIdx.x / 32) * 16;
    unsigned int qa[D / 16][4];
    tc_load_a<D>(q, b, h, heads, tokens, row0, qa);
    float acc[D / 8][4];
    tc_zero(acc);
    // Running maximum and this lane's share of the running sum, for rows g (index 0) and g + 8 (index 1).
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    for (int start = 0; start < tokens; start += TC_TILE)
    {
        __syncthreads();
        tc_load_rows<D>(k, b, h, heads, tokens, start, ks);
        tc_load_cols<D>(v, b, h, heads, tokens, start, vt);
        load_kept(key_mask, b, tokens, start, TC_TILE, kept);
        __syncthreads();
        float s[TC_TILE / 8][4];
        tc_rows_times_tile<D>(qa, ks, s);
        float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < TC_TILE / 8; n++)
        {
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                s[n][e] = kept[n * 8 + 2 * t + (e & 1)] ? s[n][e] * scale : -INFINITY;
                tile_max[e / 2] = fmaxf(tile_max[e / 2], s[n][e]);
            }
        }
        float base[2], rescale[2];
#pragma unroll
        for (int r = 0; r < 2; r++)
        {
            float next = fmaxf(m[r], quad_max(tile_max[r]));
            // While every key so far is padded the maximum is -inf: measure from 0 so that exp gives 0, not NaN.
            base[r] = next == -INFINITY ? 0.0f : next;
            rescale[r] = expf(m[r] - base[r]);
            m[r] = next;
            l[r] *= rescale[r];
        }
#pragma unroll
        for (int nd = 0; nd < D / 8; nd++)
        {
            acc[nd][0] *= rescale[0];
            acc[nd][1] *= rescale[0];
            acc[nd][2] *= rescale[1];
            acc[nd][3] *= rescale[1];
        }
#pragma unroll
        for (int n = 0; n < TC_TILE / 8; n++)
        {
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                s[n][e] = expf(s[n][e] - base[e / 2]);
                l[e / 2] += s[n][e];
            }
        }
        tc_tile_times_cols<D>(s, vt, acc);
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        int row = row0 + g + 8 * r;
        float sum = quad_sum(l[r]);
        if (row >= tokens) continue;
        float inverse = sum > 0 ? 1.0f / sum : 0.0f;
        long long at = head_row<D>(b, row, h, heads, tokens) + 2 * t;
#pragma unroll
        for (int nd = 0; nd < D / 8; nd++)
            *(unsigned int*)(o + at + nd * 8) = pack_bf16(acc[nd][2 * r] * inverse, acc[nd][2 * r + 1] * inverse);
        if (t == 0) lse[(long long)bh * tokens + row] = sum > 0 ? m[r] + logf(sum) : INFINITY;
    }
}

extern "C" __global__ void attention_forward_tc_d16(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward_tc<16>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_tc_d32(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward_tc<32>(q, k, v, key_mask, o, lse, heads, tokens, scale); }
extern "C" __global__ void attention_forward_tc_d64(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, unsigned short* o, float* lse, int heads, int tokens, float scale) { attention_forward_tc<64>(q, k, v, key_mask, o, lse, heads, tokens, scale); }

// grid (batch*heads, query tiles of TC_ROWS), block TC_THREADS. dq += scale * sum_j ds_ij k_j.
template <int D> __device__ void attention_backward_dq_tc(const unsigned short* q, const unsigned short* k, const unsigned short* v,
    const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale)
{
    __shared__ __align__(16) unsigned short ks[TC_TILE * (D + 8)];
    __shared__ __align__(16) unsigned short vs[TC_TILE * (D + 8)];
    __shared__ __align__(16) unsigned short kt[D * (TC_TILE + 8)];
    __shared__ int kept[TC_TILE];
    int bh = blockIdx.x, b = bh / heads, h = bh % heads;
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    int row0 = blockIdx.y * TC_ROWS + (threadIdx.x / 32) * 16;
    unsigned int qa[D / 16][4], doa[D / 16][4];
    tc_load_a<D>(q, b, h, heads, tokens, row0, qa);
    tc_load_a<D>(d_o, b, h, heads, tokens, row0, doa);
    float lse_r[2], delta_r[2];
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        int row = row0 + g + 8 * r;
        lse_r[r] = row < tokens ? lse[(long long)bh * tokens + row] : INFINITY;
        delta_r[r] = row < tokens ? delta[(long long)bh * tokens + row] : 0.0f;
    }
    float acc[D / 8][4];
    tc_zero(acc);
    for (int start = 0; start < tokens; start += TC_TILE)
    {
        __syncthreads();
        tc_load_rows<D>(k, b, h, heads, tokens, start, ks);
        tc_load_rows<D>(v, b, h, heads, tokens, start, vs);
        tc_load_cols<D>(k, b, h, heads, tokens, start, kt);
        load_kept(key_mask, b, tokens, start, TC_TILE, kept);
        __syncthreads();
        float s[TC_TILE / 8][4], dp[TC_TILE / 8][4];
        tc_rows_times_tile<D>(qa, ks, s);
        tc_rows_times_tile<D>(doa, vs, dp);
#pragma unroll
        for (int n = 0; n < TC_TILE / 8; n++)
        {
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                float p = kept[n * 8 + 2 * t + (e & 1)] ? expf(s[n][e] * scale - lse_r[e / 2]) : 0.0f;
                s[n][e] = p * (dp[n][e] - delta_r[e / 2]); // ds
            }
        }
        tc_tile_times_cols<D>(s, kt, acc);
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        int row = row0 + g + 8 * r;
        if (row >= tokens) continue;
        long long at = head_row<D>(b, row, h, heads, tokens) + 2 * t;
#pragma unroll
        for (int nd = 0; nd < D / 8; nd++)
        {
            dq[at + nd * 8] += acc[nd][2 * r] * scale;
            dq[at + nd * 8 + 1] += acc[nd][2 * r + 1] * scale;
        }
    }
}

extern "C" __global__ void attention_backward_dq_tc_d16(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq_tc<16>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_tc_d32(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq_tc<32>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dq_tc_d64(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dq, int heads, int tokens, float scale) { attention_backward_dq_tc<64>(q, k, v, key_mask, d_o, lse, delta, dq, heads, tokens, scale); }

// grid (batch*heads, key tiles of TC_ROWS), block TC_THREADS. dv_j += sum_i p_ij dO_i, dk_j += scale * sum_i ds_ij q_i: the
// warp's accumulators hold transposed tiles, keys along rows and queries along columns.
template <int D> __device__ void attention_backward_dkdv_tc(const unsigned short* q, const unsigned short* k, const unsigned short* v,
    const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale)
{
    __shared__ __align__(16) unsigned short q_rows[TC_TILE * (D + 8)];
    __shared__ __align__(16) unsigned short do_rows[TC_TILE * (D + 8)];
    __shared__ __align__(16) unsigned short q_cols[D * (TC_TILE + 8)];
    __shared__ __align__(16) unsigned short do_cols[D * (TC_TILE + 8)];
    __shared__ float lses[TC_TILE];
    __shared__ float deltas[TC_TILE];
    int bh = blockIdx.x, b = bh / heads, h = bh % heads;
    int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    int row0 = blockIdx.y * TC_ROWS + (threadIdx.x / 32) * 16;
    unsigned int ka[D / 16][4], va[D / 16][4];
    tc_load_a<D>(k, b, h, heads, tokens, row0, ka);
    tc_load_a<D>(v, b, h, heads, tokens, row0, va);
    bool kept[2];
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        int key = row0 + g + 8 * r;
        kept[r] = key < tokens && (!key_mask || key_mask[(long long)b * tokens + key] != 0);
    }
    float dk_acc[D / 8][4], dv_acc[D / 8][4];
    tc_zero(dk_acc);
    tc_zero(dv_acc);
    for (int start = 0; start < tokens; start += TC_TILE)
    {
        __syncthreads();
        tc_load_rows<D>(q, b, h, heads, tokens, start, q_rows);
        tc_load_rows<D>(d_o, b, h, heads, tokens, start, do_rows);
        tc_load_cols<D>(q, b, h, heads, tokens, start, q_cols);
        tc_load_cols<D>(d_o, b, h, heads, tokens, start, do_cols);
        for (int r = threadIdx.x; r < TC_TILE; r += blockDim.x)
        {
            int token = start + r;
            lses[r] = token < tokens ? lse[(long long)bh * tokens + token] : INFINITY;
            deltas[r] = token < tokens ? delta[(long long)bh * tokens + token] : 0.0f;
        }
        __syncthreads();
        float p[TC_TILE / 8][4], ds[TC_TILE / 8][4];
        tc_rows_times_tile<D>(ka, q_rows, p);
        tc_rows_times_tile<D>(va, do_rows, ds);
#pragma unroll
        for (int n = 0; n < TC_TILE / 8; n++)
        {
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                int i = n * 8 + 2 * t + (e & 1);
                p[n][e] = kept[e / 2] ? expf(p[n][e] * scale - lses[i]) : 0.0f;
                ds[n][e] = p[n][e] * (ds[n][e] - deltas[i]);
            }
        }
        tc_tile_times_cols<D>(p, do_cols, dv_acc);
        tc_tile_times_cols<D>(ds, q_cols, dk_acc);
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        int key = row0 + g + 8 * r;
        if (!kept[r]) continue;
        long long at = head_row<D>(b, key, h, heads, tokens) + 2 * t;
#pragma unroll
        for (int nd = 0; nd < D / 8; nd++)
        {
            dk[at + nd * 8] += dk_acc[nd][2 * r] * scale;
            dk[at + nd * 8 + 1] += dk_acc[nd][2 * r + 1] * scale;
            dv[at + nd * 8] += dv_acc[nd][2 * r];
            dv[at + nd * 8 + 1] += dv_acc[nd][2 * r + 1];
        }
    }
}

extern "C" __global__ void attention_backward_dkdv_tc_d16(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv_tc<16>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_tc_d32(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv_tc<32>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
extern "C" __global__ void attention_backward_dkdv_tc_d64(const unsigned short* q, const unsigned short* k, const unsigned short* v, const int* key_mask, const float* d_o, const float* lse, const float* delta, float* dk, float* dv, int heads, int tokens, float scale) { attention_backward_dkdv_tc<64>(q, k, v, key_mask, d_o, lse, delta, dk, dv, heads, tokens, scale); }
