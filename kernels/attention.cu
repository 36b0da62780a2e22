// attention.cu: fused multi-head attention in the style of FlashAttention, on q, k, v laid out [batch, tokens, heads*dim]
// as the projections write them (no head split, no permute) with the key padding mask of softmax.cu. Neither the scores
// nor the probabilities are stored: the forward keeps the output and, per query row, the log-sum-exp of its scaled scores
// (lse, [batch, heads, tokens]); the backward recomputes p = exp(s - lse) tile by tile.
//
// With s_ij = scale * q_i . k_j over the kept keys j, p_ij = exp(s_ij - lse_i), o_i = sum_j p_ij v_j:
//   forward   one thread per query row, keys in shared-memory tiles, online softmax (running max m, sum l, output acc);
//   delta     delta_i = dO_i . o_i (= sum_j p_ij dp_ij);
//   dq        one thread per query row: dp_ij = dO_i . v_j, ds_ij = p_ij (dp_ij - delta_i), dq_i += scale sum_j ds_ij k_j;
//   dk, dv    one thread per key row (two at D = 64, see DkDvLanes), queries in tiles: dv_j += sum_i p_ij dO_i,
//             dk_j += scale sum_i ds_ij q_i.
// Padded keys get probability 0 exactly; a query row whose keys are all padded gets output 0 and lse = +inf, so its
// backward is 0, as softmax.cu's zero row. Sums run in the tensors' type (F32 or F64); the head dimension is a template
// argument (8, 16, 32 or 64) so that a thread's rows live in registers. Under bf16 mixed precision o is BF16 (the
// *_f32_*_bf16 forward writes it from F32 inputs, delta reads it back widened), and with q, k, v stored in BF16 too the
// *_bf16_d* kernels read them widened and round p, ds and dO as the tensor-core kernels of attention_tc.cu (used
// instead on sm_80 and later for D = 16, 32, 64) do; the statistics, sums and gradients stay F32.
//
// Tile sizes (the host's launch mirrors them; static shared memory stays under 48 KiB for F64 and D = 64):
//   forward  64 query threads,                   key tile 64 (F32) / 32 (F64)
//   dq       64 (F32) / 32 (F64) query threads,  key tile 32 (F32) / 16 (F64), the thread's dO row in shared memory
//   dk, dv   64 (F32) / 32 (F64) keys (threads: twice that at D = 64), query tile 16 (F32) / 8 (F64), the keys' k and v
//            rows in shared memory
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


// With bf16's BF16 inputs (I = unsigned short) p, ds and dO enter their products rounded to BF16, as the tensor-core
// kernels of attention_tc.cu read them; sums and statistics stay unrounded.
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

// Query row i of head (b, h), times scale, into registers (zeros for an inactive thread, past the last token), and the
// row's accumulator zeroed; returns where the row starts.
template <typename T, int D, typename I> __device__ __forceinline__ long long load_query_row(const I* q, int b, int i, int h, int heads,
    int tokens, bool active, T scale, T (&qi)[D], T (&acc)[D])
{
    long long row = active ? head_row<D>(b, i, h, heads, tokens) : 0;
#pragma unroll
    for (int c = 0; c < D; c++)
    {
        qi[c] = active ? (T)widen(q[row + c]) * scale : (T)0;
        acc[c] = 0;
    }
    return row;
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
    long long row = load_query_row<T, D>(q, b, i, h, heads, tokens, active, scale, qi, acc);
    T m = (T)(-INFINITY), l = 0;
    for (int start = 0; start < tokens; start += KT)
    {
        load_key_tile<T, D>(k, v, key_mask, b, h, heads, tokens, start, KT, ks, vs, kept);
        if (!active) continue;
        int count = min(KT, tokens - start);
        if (Operand<I, T>::rounds)
        {
            // bf16: p is rounded relative to the running maximum after the whole tile, as attention_tc.cu has it (tiles
            // of 64 keys both): the tile's maximum first, then its keys.
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
    long long row = load_query_row<T, D>(q, b, i, h, heads, tokens, active, scale, qi, acc);
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

// Threads a key in the dk/dv kernel. At head dimension 64 a key's k, v, dk and dv rows (4 x 64 values) would take more
// than a thread's 255 registers and spill, so two adjacent lanes share a key: each owns half of the dimensions, in pairs
// (lane 0 of the two dimensions 0, 1, 4, 5, ..., lane 1 of 2, 3, 6, 7, ...: the two lanes read neighbouring words of a
// broadcast row), and one shuffle adds their halves of the two dot products.
template <int D> struct DkDvLanes
{
    static const int per_key = D >= 64 ? 2 : 1;
    static __device__ __forceinline__ int dim(int i, int part) { return per_key == 1 ? i : (i >> 1) * 4 + part * 2 + (i & 1); }
};

// grid (batch*heads, key tiles), block AttentionTiles<T>::dkdv_keys * DkDvLanes<D>::per_key. dv_j += sum_i p_ij dO_i,
// dk_j += scale * sum_i ds_ij q_i.
template <typename T, int D, typename I> __device__ void attention_backward_dkdv(const I* q, const I* k, const I* v, const int* key_mask, const T* d_o,
    const T* lse, const T* delta, T* dk, T* dv, int heads, int tokens, T scale)
{
    const int KT = AttentionTiles<T>::dkdv_keys, QT = AttentionTiles<T>::dkdv_queries;
    const int L = DkDvLanes<D>::per_key, H = D / L;
    __shared__ T kown[KT * (D + 1)];
    __shared__ T vown[KT * (D + 1)];
    __shared__ __align__(16) T qs[QT * D];
    __shared__ __align__(16) T dos[QT * D];
    __shared__ T lses[QT];
    __shared__ T deltas[QT];
    __shared__ int kept[KT];
    int bh = blockIdx.x, b = bh / heads, h = bh % heads;
    int key = threadIdx.x / L, part = threadIdx.x % L;
    int first = blockIdx.y * KT, j = first + key;
    load_head_rows<T, D>(k, b, h, heads, tokens, first, KT, kown, D + 1);
    load_head_rows<T, D>(v, b, h, heads, tokens, first, KT, vown, D + 1);
    load_kept(key_mask, b, tokens, first, KT, kept);
    __syncthreads();
    bool active = kept[key] != 0;
    const T* kj = kown + key * (D + 1);
    const T* vj = vown + key * (D + 1);
    T dk_acc[H], dv_acc[H];
#pragma unroll
    for (int i = 0; i < H; i++)
    {
        dk_acc[i] = 0;
        dv_acc[i] = 0;
    }
    for (int start = 0; start < tokens; start += QT)
    {
        __syncthreads();
        load_head_rows<T, D>(q, b, h, heads, tokens, start, QT, qs, D);
        load_head_rows<T, D, T, Operand<I, T>::rounds>(d_o, b, h, heads, tokens, start, QT, dos, D);
        load_row_statistics(lse, delta, bh, tokens, start, QT, lses, deltas);
        __syncthreads();
        // With two lanes a key every lane of the warp takes part in the shuffles, a padded key's too (its sums are dropped).
        if (L == 1 && !active) continue;
        int count = min(QT, tokens - start);
        for (int r = 0; r < count; r++)
        {
            const T* qr = qs + r * D;
            const T* dor = dos + r * D;
            T s = 0, dp = 0;
#pragma unroll
            for (int i = 0; i < H; i++)
            {
                int c = DkDvLanes<D>::dim(i, part);
                s += qr[c] * scale * kj[c];
                dp += dor[c] * vj[c];
            }
            if (L > 1)
            {
                s += __shfl_xor_sync(0xffffffffu, s, 1);
                dp += __shfl_xor_sync(0xffffffffu, dp, 1);
            }
            T p = exp_of(s - lses[r]);
            T ds = Operand<I, T>::of(p * (dp - deltas[r]));
            p = Operand<I, T>::of(p);
#pragma unroll
            for (int i = 0; i < H; i++)
            {
                int c = DkDvLanes<D>::dim(i, part);
                dv_acc[i] += p * dor[c];
                dk_acc[i] += ds * qr[c];
            }
        }
    }
    if (!active) return;
    long long row = head_row<D>(b, j, h, heads, tokens);
#pragma unroll
    for (int i = 0; i < H; i++)
    {
        int c = DkDvLanes<D>::dim(i, part);
        dk[row + c] += dk_acc[i] * scale;
        dv[row + c] += dv_acc[i];
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
