// The cuBLAS subset: a reference GEMM with cuBLAS's column-major semantics,
//   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b],  op(X) = X or X^T,
// element (i, j) of a matrix X with leading dimension ld at X[i + j * ld]. Inputs are widened to the
// compute type (bf16 bits to float; float rounded to TF32 when TF32 is allowed), products are
// summed in order over k in the compute type, and C is rounded to its own type (bf16: to nearest
// even). beta == 0 never reads C. The columns of C are shared out over the worker pool.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "context_state.h"
#include "cuda_api.h"
#include "fault_guard.h"
#include "worker_pool.h"

struct EmuBlasHandle {
    CUstream stream = nullptr;
    int math_mode = CUBLAS_DEFAULT_MATH;
};

namespace medclip_emu {
namespace {

float bf16_to_float(uint16_t bits) {
    const uint32_t wide = uint32_t(bits) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof value);
    return value;
}

uint16_t float_to_bf16(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
    return uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// Keeps 10 mantissa bits, rounding to nearest even, as tensor cores do with TF32 inputs.
float round_to_tf32(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7f800000u) == 0x7f800000u) return value;
    bits = (bits + 0xfffu + ((bits >> 13) & 1u)) & ~0x1fffu;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

struct Gemm {
    int transa, transb, m, n, k, batch;
    const void *A, *B;
    void* C;
    int a_type, c_type, lda, ldb, ldc;
    long long stride_a, stride_b, stride_c;
    bool f64, tf32;
    double alpha, beta;
};

template <class Acc>
Acc load(const void* base, int type, long long index, bool tf32) {
    switch (type) {
        case CUDA_R_64F: return Acc(static_cast<const double*>(base)[index]);
        case CUDA_R_16BF: return Acc(bf16_to_float(static_cast<const uint16_t*>(base)[index]));
        default: {
            const float value = static_cast<const float*>(base)[index];
            return Acc(tf32 ? round_to_tf32(value) : value);
        }
    }
}

// Work shared by the threads: op(A) of every batch widened once, row i contiguous over k.
template <class Acc>
struct GemmWork {
    const Gemm* gemm;
    std::vector<Acc> a_rows;
    unsigned workers;
};

template <class Acc>
void widen_a(void* argument) {
    GemmWork<Acc>& work = *static_cast<GemmWork<Acc>*>(argument);
    const Gemm& g = *work.gemm;
    work.a_rows.resize(size_t(g.batch) * g.m * g.k);
    Acc* out = work.a_rows.data();
    for (int b = 0; b < g.batch; ++b)
        for (int i = 0; i < g.m; ++i)
            for (int p = 0; p < g.k; ++p) {
                const long long index = g.transa == CUBLAS_OP_N ? i + (long long)p * g.lda : p + (long long)i * g.lda;
                *out++ = load<Acc>(g.A, g.a_type, b * g.stride_a + index, g.tf32);
            }
}

template <class Acc>
void multiply_column(const GemmWork<Acc>& work, long long column, std::vector<Acc>& b_column) {
    const Gemm& g = *work.gemm;
    const int b = int(column / g.n), j = int(column % g.n);
    for (int p = 0; p < g.k; ++p) {
        const long long index = g.transb == CUBLAS_OP_N ? p + (long long)j * g.ldb : j + (long long)p * g.ldb;
        b_column[p] = load<Acc>(g.B, g.a_type, b * g.stride_b + index, g.tf32);
    }
    const Acc alpha = Acc(g.alpha), beta = Acc(g.beta);
    const Acc* a_rows = work.a_rows.data() + size_t(b) * g.m * g.k;
    for (int i = 0; i < g.m; ++i) {
        Acc sum = 0;
        const Acc* row = a_rows + size_t(i) * g.k;
        for (int p = 0; p < g.k; ++p) sum += row[p] * b_column[p];
        const long long index = b * g.stride_c + i + (long long)j * g.ldc;
        Acc value = alpha * sum;
        if (g.beta != 0) value += beta * load<Acc>(g.C, g.c_type, index, false);
        switch (g.c_type) {
            case CUDA_R_64F: static_cast<double*>(g.C)[index] = double(value); break;
            case CUDA_R_16BF: static_cast<uint16_t*>(g.C)[index] = float_to_bf16(float(value)); break;
            default: static_cast<float*>(g.C)[index] = float(value); break;
        }
    }
}

template <class Acc>
struct ColumnShare {
    const GemmWork<Acc>* work;
    unsigned worker;
    std::vector<Acc> b_column;  // owned here: a fault leaves multiply_share without running destructors
};

template <class Acc>
void multiply_share(void* argument) {
    ColumnShare<Acc>& share = *static_cast<ColumnShare<Acc>*>(argument);
    const Gemm& g = *share.work->gemm;
    std::vector<Acc> b_column(size_t(std::max(g.k, 1)));
    for (long long column = share.worker; column < (long long)g.batch * g.n; column += share.work->workers)
        multiply_column(*share.work, column, b_column);
}

template <class Acc>
struct PoolShares {
    const GemmWork<Acc>* work;
    std::vector<int> codes;
};

template <class Acc>
void run_share_on_pool(void* context, unsigned index) {
    PoolShares<Acc>& shares = *static_cast<PoolShares<Acc>*>(context);
    ColumnShare<Acc> share{shares.work, index, std::vector<Acc>(size_t(std::max(shares.work->gemm->k, 1)))};
    shares.codes[index] = run_guarded(multiply_share<Acc>, &share);
}

// Returns the first fault code (0 when none).
template <class Acc>
int run_gemm(const Gemm& g) {
    GemmWork<Acc> work{&g, {}, 1};
    if (const int code = run_guarded(widen_a<Acc>, &work)) return code;
    const double flops = 2.0 * g.m * g.n * g.k * g.batch;
    const long long columns = (long long)g.batch * g.n;
    work.workers = unsigned(std::min<long long>(columns, std::max(1u, std::thread::hardware_concurrency())));
    if (flops < 1e6) work.workers = 1;
    if (work.workers == 1) {
        ColumnShare<Acc> share{&work, 0, std::vector<Acc>(size_t(std::max(g.k, 1)))};
        return run_guarded(multiply_share<Acc>, &share);
    }
    PoolShares<Acc> shares{&work, std::vector<int>(work.workers, 0)};
    run_on_pool(work.workers, run_share_on_pool<Acc>, &shares);
    for (int code : shares.codes)
        if (code) return code;
    return 0;
}

cublasStatus_t gemm(cublasHandle_t handle, int transa, int transb, int m, int n, int k, const void* alpha,
                    const void* A, int a_type, int lda, long long stride_a, const void* B, int b_type, int ldb,
                    long long stride_b, const void* beta, void* C, int c_type, int ldc, long long stride_c,
                    int batch, int compute, int algo) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const auto valid_op = [](int op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; };
    if (!valid_op(transa) || !valid_op(transb) || m < 0 || n < 0 || k < 0 || batch < 0 || !alpha || !beta)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < std::max(1, transa == CUBLAS_OP_N ? m : k) || ldb < std::max(1, transb == CUBLAS_OP_N ? k : n) ||
        ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (algo != CUBLAS_GEMM_DEFAULT && (algo < 0 || algo > 23)) return CUBLAS_STATUS_INVALID_VALUE;
    const bool f64 = compute == CUBLAS_COMPUTE_64F;
    const bool supported =
        a_type == b_type &&
        (f64 ? a_type == CUDA_R_64F && c_type == CUDA_R_64F
             : (compute == CUBLAS_COMPUTE_32F || compute == CUBLAS_COMPUTE_32F_FAST_TF32) &&
                   ((a_type == CUDA_R_32F && c_type == CUDA_R_32F) ||
                    (a_type == CUDA_R_16BF && (c_type == CUDA_R_16BF || c_type == CUDA_R_32F))));
    if (!supported) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (sticky_error() != CUDA_SUCCESS) return CUBLAS_STATUS_EXECUTION_FAILED;
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    if (!A || !B || !C) return CUBLAS_STATUS_INVALID_VALUE;

    Gemm g{};
    g.transa = transa == CUBLAS_OP_N ? CUBLAS_OP_N : CUBLAS_OP_T;  // real data: C is the same as T
    g.transb = transb == CUBLAS_OP_N ? CUBLAS_OP_N : CUBLAS_OP_T;
    g.m = m, g.n = n, g.k = k, g.batch = batch;
    g.A = A, g.B = B, g.C = C;
    g.a_type = a_type, g.c_type = c_type, g.lda = lda, g.ldb = ldb, g.ldc = ldc;
    g.stride_a = stride_a, g.stride_b = stride_b, g.stride_c = stride_c;
    g.f64 = f64;
    g.tf32 = a_type == CUDA_R_32F && (compute == CUBLAS_COMPUTE_32F_FAST_TF32 ||
                                      (compute == CUBLAS_COMPUTE_32F && handle->math_mode == CUBLAS_TF32_TENSOR_OP_MATH));
    g.alpha = f64 ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
    g.beta = f64 ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
    if (const int code = f64 ? run_gemm<double>(g) : run_gemm<float>(g)) {
        set_sticky_error(code == kGuardAborted ? CUDA_ERROR_LAUNCH_FAILED : CUDA_ERROR_ILLEGAL_ADDRESS);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    return CUBLAS_STATUS_SUCCESS;
}

}  // namespace
}  // namespace medclip_emu

using namespace medclip_emu;

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new EmuBlasHandle();
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, CUstream stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const int base = mode & ~16;  // 16: CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION
    if (base < 0 || base > 3) return CUBLAS_STATUS_INVALID_VALUE;
    handle->math_mode = base;
    return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

const char* cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "success";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
        case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
        case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
        case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
        default: return "unknown error";
    }
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    return gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C, Ctype, ldc, 0, 1,
                computeType, algo);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                          int lda, long long strideA, const void* B, cudaDataType Btype, int ldb,
                                          long long strideB, const void* beta, void* C, cudaDataType Ctype, int ldc,
                                          long long strideC, int batchCount, cublasComputeType_t computeType,
                                          cublasGemmAlgo_t algo) {
    return gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta, C, Ctype,
                ldc, strideC, batchCount, computeType, algo);
}
