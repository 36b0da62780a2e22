// attention_tc.cu: the fused attention of attention.cu for bf16 mixed precision on tensor cores (sm_80 and later, the
// host launches these kernels only there; a file of their own, so that the CUDA-core kernels compile without them).
//
// The same three passes for BF16 q, k, v with D = 16, 32 or 64, the products on tensor cores (mma_m16n8k16_bf16 of
// common.cuh) in the way of FlashAttention-2: a block of 4 warps owns 64 rows (queries for the forward and dq, keys for
// dk and dv), each warp 16 of them, and walks the other side in shared-memory tiles of 64. Scores, probabilities and
// their gradients stay in the warp's accumulator fragments; p and ds become the A operand of the next product by
// rounding them to BF16 in place (a 16x8 accumulator pair has the layout of a 16x16 A fragment), and dO is read
// rounded to BF16. Those roundings are the definition of bf16's fused attention: the CUDA-core kernels of attention.cu and the
// CPU reference apply them too (bf16_round). Softmax statistics, lse, delta and the accumulators are F32.
//
// Shared rows hold D + 8 (or 64 + 8) BF16 values: the extra 16 bytes put the 8 rows one fragment load touches in 8
// different bank groups. Operands whose product runs along the rows' other axis are stored transposed while loading
// (v for o += p v, k for dq += ds k, q and dO for dk += ds^T q and dv += p^T dO).
#include "common.cuh"

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
        load_row_statistics(lse, delta, bh, tokens, start, TC_TILE, lses, deltas);
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
