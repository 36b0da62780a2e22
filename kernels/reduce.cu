// reduce.cu: reductions used by the optimizer and the bias gradient.
// bias_backward: dBias[c] += sum over r of dy[r, c]. Block (32, 8): threadIdx.x picks one of 32 adjacent columns (reads
// coalesced), threadIdx.y strides over the rows; the 8 partial sums of a column are added in shared memory in a fixed
// order, so the result is deterministic (no atomics).
// sum_of_squares: acc[0] += sum x^2: grid-stride partials, a block reduction, one atomicAdd per block.
#include "common.cuh"

template <typename T> __device__ void bias_backward(const T* dy, T* dbias, int rows, int cols)
{
    __shared__ T partial[8][32];
    int c = blockIdx.x * 32 + threadIdx.x;
    T sum = 0;
    if (c < cols)
    {
        for (int r = threadIdx.y; r < rows; r += blockDim.y) sum += dy[(long long)r * cols + c];
    }
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols)
    {
        T total = 0;
        for (int k = 0; k < (int)blockDim.y; k++) total += partial[k][threadIdx.x];
        dbias[c] += total;
    }
}

extern "C" __global__ void bias_backward_f32(const float* dy, float* dbias, int rows, int cols) { bias_backward<float>(dy, dbias, rows, cols); }
extern "C" __global__ void bias_backward_f64(const double* dy, double* dbias, int rows, int cols) { bias_backward<double>(dy, dbias, rows, cols); }

template <typename T> __device__ void sum_of_squares(const T* x, long long n, T* acc)
{
    T sum = 0;
    GRID_STRIDE_LOOP(i, n) sum += x[i] * x[i];
    sum = block_sum(sum);
    if (threadIdx.x == 0) atomicAdd(acc, sum);
}

extern "C" __global__ void sum_of_squares_f32(const float* x, long long n, float* acc) { sum_of_squares<float>(x, n, acc); }
extern "C" __global__ void sum_of_squares_f64(const double* x, long long n, double* acc) { sum_of_squares<double>(x, n, acc); }
