// embedding.cu: token/position/type embeddings. Forward gathers rows, y[i, :] = table[ids[i], :]; backward scatter-adds
// dTable[ids[i], :] += dy[i, :] with atomicAdd, so repeated ids accumulate (in no fixed order).
// Rows along blockIdx.y (striding), columns along x: reads and writes of a row are coalesced. An id outside the table
// writes zeros and sets the device error word, which the host turns into an exception at its next synchronisation.
#include "common.cuh"

template <typename T> __device__ void embedding_forward(const T* table, const int* ids, T* y, int count, int vocab, int width, int* err)
{
    for (int i = blockIdx.y; i < count; i += gridDim.y)
    {
        int id = ids[i];
        bool valid = id >= 0 && id < vocab;
        if (!valid && blockIdx.x == 0 && threadIdx.x == 0) report_error(err, ERROR_EMBEDDING_ID, i, id, vocab);
        T* yr = y + (long long)i * width;
        const T* tr = table + (long long)(valid ? id : 0) * width;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < width; c += blockDim.x * gridDim.x) yr[c] = valid ? tr[c] : (T)0;
    }
}

template <typename T> __device__ void embedding_backward(const T* dy, const int* ids, T* dtable, int count, int vocab, int width, int* err)
{
    for (int i = blockIdx.y; i < count; i += gridDim.y)
    {
        int id = ids[i];
        if (id < 0 || id >= vocab)
        {
            if (blockIdx.x == 0 && threadIdx.x == 0) report_error(err, ERROR_EMBEDDING_ID, i, id, vocab);
            continue;
        }
        const T* dyr = dy + (long long)i * width;
        T* dr = dtable + (long long)id * width;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < width; c += blockDim.x * gridDim.x) atomicAdd(dr + c, dyr[c]);
    }
}

extern "C" __global__ void embedding_forward_f32(const float* table, const int* ids, float* y, int count, int vocab, int width, int* err) { embedding_forward<float>(table, ids, y, count, vocab, width, err); }
extern "C" __global__ void embedding_forward_f64(const double* table, const int* ids, double* y, int count, int vocab, int width, int* err) { embedding_forward<double>(table, ids, y, count, vocab, width, err); }
extern "C" __global__ void embedding_backward_f32(const float* dy, const int* ids, float* dtable, int count, int vocab, int width, int* err) { embedding_backward<float>(dy, ids, dtable, count, vocab, width, err); }
extern "C" __global__ void embedding_backward_f64(const double* dy, const int* ids, double* dtable, int count, int vocab, int width, int* err) { embedding_backward<double>(dy, ids, dtable, count, vocab, width, err); }
