// permute.cu: axis permutation of a contiguous tensor of rank up to 6 (head split/merge, patchify), y (+)= x permuted.
// One thread per output element: the output index is split into output coordinates (d0..d5, the rank padded with leading
// 1s) and the source offset is sum coord_i * s_i, where s_i is x's stride of the axis that lands at output axis i.
// Writes are coalesced; reads are gathered (runs stay contiguous when the last axis stays last).
#include "common.cuh"

template <typename T> __device__ void permute(const T* x, T* y, long long n, int d0, int d1, int d2, int d3, int d4, int d5,
    long long s0, long long s1, long long s2, long long s3, long long s4, long long s5, int accumulate)
{
    GRID_STRIDE_LOOP(o, n)
    {
        long long rest = o;
        long long source = (rest % d5) * s5; rest /= d5;
        source += (rest % d4) * s4; rest /= d4;
        source += (rest % d3) * s3; rest /= d3;
        source += (rest % d2) * s2; rest /= d2;
        source += (rest % d1) * s1; rest /= d1;
        source += rest * s0;
        y[o] = accumulate ? y[o] + x[source] : x[source];
    }
}

extern "C" __global__ void permute_f32(const float* x, float* y, long long n, int d0, int d1, int d2, int d3, int d4, int d5, long long s0, long long s1, long long s2, long long s3, long long s4, long long s5, int accumulate) { permute<float>(x, y, n, d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5, accumulate); }
extern "C" __global__ void permute_f64(const double* x, double* y, long long n, int d0, int d1, int d2, int d3, int d4, int d5, long long s0, long long s1, long long s2, long long s3, long long s4, long long s5, int accumulate) { permute<double>(x, y, n, d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5, accumulate); }
extern "C" __global__ void permute_i32(const int* x, int* y, long long n, int d0, int d1, int d2, int d3, int d4, int d5, long long s0, long long s1, long long s2, long long s3, long long s4, long long s5, int accumulate) { permute<int>(x, y, n, d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5, accumulate); }
