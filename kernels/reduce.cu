// reduce.cu: reductions used by the optimizer and the bias gradient.
// bias_backward: dBias[c] += sum over r of dy[r, c]. Block (32, 8): threadIdx.x picks one of 32 adjacent columns (reads
// coalesced), threadIdx.y strides over the rows of the block's slice (blockIdx.y: rows_per_slice rows each, so a 768-wide
// bias still fills a large GPU); the 8 partial sums of a column are added in shared memory in a fixed order and the
// slices meet in dBias by atomicAdd. With one slice (the host's choice for few rows) the result is deterministic.
// bias_backward_epilogue: the same sums, with a linear layer's other uses of its output gradient in the same read.
// sum_of_squares: acc[0] += sum x^2: grid-stride partials, a block reduction, one atomicAdd per block.
// clip_by_norm: global-norm clipping from that sum without a host round trip: every thread forms
// factor = max_norm / (sqrt(sum_squares[0]) + 1e-6) in double (as the CPU reference does) and x *= (T)factor when
// factor < 1. As on the host, a NaN norm leaves x as it is and an infinite one zeroes it (factor 0); either way the
// caller's non-finite check skips the step.
#include "common.cuh"

// A linear layer's output gradient read once: bias_backward's sums (the same loop, so the same values), and for each
// value dresidual += dy (when dresidual is given: the residual stream the layer joined) and dy16 = bf16(dy) (when given:
// bf16's operand of the layer's two GEMMs), the values of axpy and a cast.
template <typename T> __device__ void bias_backward_epilogue(const T* dy, T* dbias, T* dresidual, unsigned short* dy16, int rows, int cols,
    int rows_per_slice)
{
    int c = blockIdx.x * 32 + threadIdx.x;
    int first = blockIdx.y * rows_per_slice, last = min(rows, first + rows_per_slice);
    T sum = 0;
    if (c < cols)
    {
        for (int r = first + threadIdx.y; r < last; r += blockDim.y)
        {
            long long at = (long long)r * cols + c;
            T g = dy[at];
            sum += g;
            if (dresidual) dresidual[at] += g;
            if (dy16) dy16[at] = float_to_bf16((float)g);
        }
    }
    add_column_partials(sum, c, cols, dbias);
}

// bias_backward is the epilogue with nothing else to write.
extern "C" __global__ void bias_backward_f32(const float* dy, float* dbias, int rows, int cols, int rows_per_slice) { bias_backward_epilogue<float>(dy, dbias, nullptr, nullptr, rows, cols, rows_per_slice); }
extern "C" __global__ void bias_backward_f64(const double* dy, double* dbias, int rows, int cols, int rows_per_slice) { bias_backward_epilogue<double>(dy, dbias, nullptr, nullptr, rows, cols, rows_per_slice); }
extern "C" __global__ void bias_backward_epilogue_f32(const float* dy, float* dbias, float* dresidual, unsigned short* dy16, int rows, int cols,
    int rows_per_slice) { bias_backward_epilogue<float>(dy, dbias, dresidual, dy16, rows, cols, rows_per_slice); }
extern "C" __global__ void bias_backward_epilogue_f64(const double* dy, double* dbias, double* dresidual, unsigned short* dy16, int rows, int cols,
    int rows_per_slice) { bias_backward_epilogue<double>(dy, dbias, dresidual, dy16, rows, cols, rows_per_slice); }

template <typename T> __device__ void sum_of_squares(const T* x, long long n, T* acc)
{
    T sum = 0;
    GRID_STRIDE_LOOP(i, n) sum += x[i] * x[i];
    sum = block_sum(sum);
    if (threadIdx.x == 0) atomicAdd(acc, sum);
}

extern "C" __global__ void sum_of_squares_f32(const float* x, long long n, float* acc) { sum_of_squares<float>(x, n, acc); }
extern "C" __global__ void sum_of_squares_f64(const double* x, long long n, double* acc) { sum_of_squares<double>(x, n, acc); }

template <typename T> __device__ void clip_by_norm(T* x, const T* sum_squares, double max_norm, long long n)
{
    double factor = max_norm / (sqrt((double)sum_squares[0]) + 1e-6);
    if (!(factor < 1)) return;
    T f = (T)factor;
    GRID_STRIDE_LOOP(i, n) x[i] *= f;
}

extern "C" __global__ void clip_by_norm_f32(float* x, const float* sum_squares, double max_norm, long long n) { clip_by_norm<float>(x, sum_squares, max_norm, n); }
extern "C" __global__ void clip_by_norm_f64(double* x, const double* sum_squares, double max_norm, long long n) { clip_by_norm<double>(x, sum_squares, max_norm, n); }
