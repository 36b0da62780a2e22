// cublasGemmEx / cublasGemmStridedBatchedEx against a naive column-major loop.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "test_support.h"

namespace {

struct Shape {
    int m, n, k, lda, ldb, ldc;
};

// op(X)(i, j) of a column-major matrix with leading dimension ld.
double element(const std::vector<double>& x, int op, int i, int j, int ld, long long offset) {
    return op == CUBLAS_OP_N ? x[offset + i + (long long)j * ld] : x[offset + j + (long long)i * ld];
}

std::vector<double> random_values(size_t count, unsigned seed) {
    std::mt19937 generator(seed);
    std::uniform_int_distribution<int> pick(-8, 8);  // small integers: every sum is exact in float
    std::vector<double> values(count);
    for (double& v : values) v = pick(generator) * 0.25;
    return values;
}

template <class T>
std::vector<T> cast(const std::vector<double>& values) {
    return std::vector<T>(values.begin(), values.end());
}

float bf16_to_float(uint16_t bits) {
    const uint32_t wide = uint32_t(bits) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof value);
    return value;
}

uint16_t float_to_bf16(float value) {  // round to nearest even
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

class GemmTest : public EmulatorTest {
protected:
    void SetUp() override {
        EmulatorTest::SetUp();
        ASSERT_EQ(cublasCreate_v2(&handle_), CUBLAS_STATUS_SUCCESS);
    }
    void TearDown() override {
        EXPECT_EQ(cublasDestroy_v2(handle_), CUBLAS_STATUS_SUCCESS);
        EmulatorTest::TearDown();
    }

    // Runs a float GEMM (batched when batch > 1) and compares with the naive loop in double.
    void check_float_gemm(int transa, int transb, Shape s, float alpha, float beta, int batch = 1) {
        const int a_cols = transa == CUBLAS_OP_N ? s.k : s.m, b_cols = transb == CUBLAS_OP_N ? s.n : s.k;
        const long long stride_a = (long long)s.lda * a_cols + 3, stride_b = (long long)s.ldb * b_cols + 5,
                        stride_c = (long long)s.ldc * s.n + 7;
        const auto a = random_values(size_t(stride_a * batch), 1), b = random_values(size_t(stride_b * batch), 2),
                   c = random_values(size_t(stride_c * batch), 3);
        CUdeviceptr da = upload(cast<float>(a)), db = upload(cast<float>(b)), dc = upload(cast<float>(c));
        const cublasStatus_t status =
            batch == 1 ? cublasGemmEx(handle_, transa, transb, s.m, s.n, s.k, &alpha, (void*)da, CUDA_R_32F, s.lda,
                                      (void*)db, CUDA_R_32F, s.ldb, &beta, (void*)dc, CUDA_R_32F, s.ldc,
                                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)
                       : cublasGemmStridedBatchedEx(handle_, transa, transb, s.m, s.n, s.k, &alpha, (void*)da,
                                                    CUDA_R_32F, s.lda, stride_a, (void*)db, CUDA_R_32F, s.ldb,
                                                    stride_b, &beta, (void*)dc, CUDA_R_32F, s.ldc, stride_c, batch,
                                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        ASSERT_EQ(status, CUBLAS_STATUS_SUCCESS);
        const auto result = download<float>(dc, c.size());
        std::vector<double> expected = c;  // entries outside the m x n windows must stay untouched
        for (int p = 0; p < batch; ++p)
            for (int j = 0; j < s.n; ++j)
                for (int i = 0; i < s.m; ++i) {
                    double sum = 0;
                    for (int q = 0; q < s.k; ++q)
                        sum += element(a, transa, i, q, s.lda, p * stride_a) * element(b, transb, q, j, s.ldb, p * stride_b);
                    double& out = expected[p * stride_c + i + (long long)j * s.ldc];
                    out = alpha * sum + beta * out;
                }
        for (size_t i = 0; i < c.size(); ++i)
            ASSERT_EQ(result[i], float(expected[i])) << "transa " << transa << " transb " << transb << " at " << i;
    }

    cublasHandle_t handle_ = nullptr;
};

TEST_F(GemmTest, EveryTransposeCombinationWithOddSizesAndWideLeadingDimensions) {
    for (int transa : {CUBLAS_OP_N, CUBLAS_OP_T})
        for (int transb : {CUBLAS_OP_N, CUBLAS_OP_T}) {
            const int m = 7, n = 5, k = 3;
            const Shape tight{m, n, k, transa == CUBLAS_OP_N ? m : k, transb == CUBLAS_OP_N ? k : n, m};
            const Shape wide{m, n, k, tight.lda + 4, tight.ldb + 2, m + 3};
            check_float_gemm(transa, transb, tight, 1.0f, 0.0f);
            check_float_gemm(transa, transb, wide, -0.5f, 2.0f);
        }
}

TEST_F(GemmTest, LargeEnoughToRunOnSeveralThreads) {
    check_float_gemm(CUBLAS_OP_T, CUBLAS_OP_N, {33, 129, 65, 65, 65, 40}, 1.0f, 0.5f);
}

TEST_F(GemmTest, StridedBatchedUsesEachStride) {
    check_float_gemm(CUBLAS_OP_N, CUBLAS_OP_T, {4, 6, 5, 5, 7, 4}, 1.5f, 0.0f, 3);
    check_float_gemm(CUBLAS_OP_T, CUBLAS_OP_T, {3, 2, 9, 9, 3, 5}, 1.0f, 1.0f, 4);
}

TEST_F(GemmTest, BetaZeroIgnoresNanInC) {
    const int m = 3, n = 2, k = 2;
    CUdeviceptr a = upload(std::vector<float>(m * k, 1.0f)), b = upload(std::vector<float>(k * n, 2.0f)),
                c = upload(std::vector<float>(m * n, std::numeric_limits<float>::quiet_NaN()));
    const float alpha = 1.0f, beta = 0.0f;
    ASSERT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, (void*)a, CUDA_R_32F, m, (void*)b,
                           CUDA_R_32F, k, &beta, (void*)c, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(download<float>(c, m * n), std::vector<float>(m * n, 4.0f));
}

TEST_F(GemmTest, Bf16InputsAccumulateInFloatAndRoundToNearestEven) {
    const int m = 5, n = 4, k = 6;
    std::mt19937 generator(7);
    std::uniform_real_distribution<float> pick(-2.0f, 2.0f);
    std::vector<uint16_t> a(m * k), b(k * n);
    for (auto& v : a) v = float_to_bf16(pick(generator));
    for (auto& v : b) v = float_to_bf16(pick(generator));
    CUdeviceptr da = upload(a), db = upload(b), c16 = upload(std::vector<uint16_t>(m * n)),
                c32 = upload(std::vector<float>(m * n));
    const float alpha = 1.0f, beta = 0.0f;
    ASSERT_EQ(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, (void*)da, CUDA_R_16BF, k, (void*)db,
                           CUDA_R_16BF, k, &beta, (void*)c16, CUDA_R_16BF, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, (void*)da, CUDA_R_16BF, k, (void*)db,
                           CUDA_R_16BF, k, &beta, (void*)c32, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
    const auto out16 = download<uint16_t>(c16, m * n);
    const auto out32 = download<float>(c32, m * n);
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            float sum = 0;
            for (int q = 0; q < k; ++q) sum += bf16_to_float(a[q + i * k]) * bf16_to_float(b[q + j * k]);
            EXPECT_EQ(out32[i + j * m], sum);
            EXPECT_EQ(out16[i + j * m], float_to_bf16(sum));
        }
}

TEST_F(GemmTest, DoublePrecision) {
    const int m = 3, n = 3, k = 2;
    const std::vector<double> a = {1e-20, 2, 3, 4, 5, 6}, b = {1, 1, 2, 2, 3, 3};
    CUdeviceptr da = upload(a), db = upload(b), dc = upload(std::vector<double>(m * n, 1.0));
    const double alpha = 1.0, beta = 1.0;
    ASSERT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, (void*)da, CUDA_R_64F, m, (void*)db,
                           CUDA_R_64F, k, &beta, (void*)dc, CUDA_R_64F, m, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
    const auto c = download<double>(dc, m * n);
    EXPECT_EQ(c[0], 1e-20 + 4 + 1);  // not representable in float: the sum really is double
    EXPECT_EQ(c[8], 3 * 3 + 3 * 6 + 1.0);
}

TEST_F(GemmTest, Tf32ComputeRoundsInputsToTenMantissaBits) {
    const float a = 1.0f + std::ldexp(1.0f, -12), b = 1.0f, alpha = 1.0f, beta = 0.0f;
    CUdeviceptr da = upload(std::vector<float>{a}), db = upload(std::vector<float>{b}),
                dc = upload(std::vector<float>{0});
    auto run = [&](int compute) {
        EXPECT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, (void*)da, CUDA_R_32F, 1, (void*)db,
                               CUDA_R_32F, 1, &beta, (void*)dc, CUDA_R_32F, 1, compute, CUBLAS_GEMM_DEFAULT),
                  CUBLAS_STATUS_SUCCESS);
        return download<float>(dc, 1)[0];
    };
    EXPECT_EQ(run(CUBLAS_COMPUTE_32F), a);
    EXPECT_EQ(run(CUBLAS_COMPUTE_32F_FAST_TF32), 1.0f);
    ASSERT_EQ(cublasSetMathMode(handle_, CUBLAS_TF32_TENSOR_OP_MATH), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(run(CUBLAS_COMPUTE_32F), 1.0f);
    ASSERT_EQ(cublasSetMathMode(handle_, CUBLAS_PEDANTIC_MATH), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(run(CUBLAS_COMPUTE_32F), a);
}

TEST_F(GemmTest, BadArgumentsAreRejected) {
    CUdeviceptr buffer = upload(std::vector<float>(64, 0.0f));
    void* p = (void*)buffer;
    const float one = 1.0f;
    auto run = [&](int transa, int transb, int m, int n, int k, int lda, int ldb, int ldc, int type = CUDA_R_32F,
                   int compute = CUBLAS_COMPUTE_32F) {
        return cublasGemmEx(handle_, transa, transb, m, n, k, &one, p, type, lda, p, type, ldb, &one, p, type, ldc,
                            compute, CUBLAS_GEMM_DEFAULT);
    };
    EXPECT_EQ(run(CUBLAS_OP_N, CUBLAS_OP_N, 4, 3, 2, 4, 2, 4), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(run(CUBLAS_OP_N, CUBLAS_OP_N, 4, 3, 2, 3, 2, 4), CUBLAS_STATUS_INVALID_VALUE);  // lda < m
    EXPECT_EQ(run(CUBLAS_OP_T, CUBLAS_OP_N, 4, 3, 2, 1, 2, 4), CUBLAS_STATUS_INVALID_VALUE);  // lda < k
    EXPECT_EQ(run(CUBLAS_OP_N, CUBLAS_OP_N, 4, 3, 2, 4, 1, 4), CUBLAS_STATUS_INVALID_VALUE);  // ldb < k
    EXPECT_EQ(run(CUBLAS_OP_N, CUBLAS_OP_T, 4, 3, 2, 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);  // ldb < n
    EXPECT_EQ(run(CUBLAS_OP_N, CUBLAS_OP_N, 4, 3, 2, 4, 2, 3), CUBLAS_STATUS_INVALID_VALUE);  // ldc < m
    EXPECT_EQ(run(CUBLAS_OP_N, CUBLAS_OP_N, -1, 3, 2, 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);
    EXPECT_EQ(run(7, CUBLAS_OP_N, 4, 3, 2, 4, 2, 4), CUBLAS_STATUS_INVALID_VALUE);
    EXPECT_EQ(run(CUBLAS_OP_N, CUBLAS_OP_N, 4, 3, 2, 4, 2, 4, CUDA_R_64F), CUBLAS_STATUS_NOT_SUPPORTED);
    EXPECT_EQ(run(CUBLAS_OP_N, CUBLAS_OP_N, 4, 3, 2, 4, 2, 4, CUDA_R_32F, CUBLAS_COMPUTE_64F),
              CUBLAS_STATUS_NOT_SUPPORTED);
    EXPECT_EQ(cublasGemmEx(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, p, CUDA_R_32F, 1, p, CUDA_R_32F, 1, &one,
                           p, CUDA_R_32F, 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_NOT_INITIALIZED);
    EXPECT_STREQ(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE");
}

TEST_F(GemmTest, ReadingPastAnAllocationFailsAndSticks) {
    CUdeviceptr a = upload(std::vector<float>(6, 1.0f)), c = upload(std::vector<float>(4, 0.0f));
    const float one = 1.0f, zero = 0.0f;
    // A is declared 2 x 4 but holds only 6 floats.
    EXPECT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_T, 2, 2, 4, &one, (void*)a, CUDA_R_32F, 2, (void*)a,
                           CUDA_R_32F, 2, &zero, (void*)c, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_EXECUTION_FAILED);
    EXPECT_EQ(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
}

}  // namespace
