using System.Runtime.InteropServices;

namespace MedClip.Benchmarks;

/// <summary>
/// OpenBLAS's row-major single-precision GEMM and its thread count, from libopenblas.so.0 (Debian: libopenblas0-pthread),
/// for <see cref="GemmVsOpenBlasBenchmarks"/>.
/// </summary>
internal static unsafe partial class OpenBlas
{
    public const string Library = "libopenblas.so.0";

    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    /// <summary>Whether the library loads on this machine.</summary>
    public static bool IsAvailable { get; } = NativeLibrary.TryLoad(Library, out _);

    /// <summary>C = alpha * op(A) @ op(B) + beta * C, row-major, as <c>cblas_sgemm</c>.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc) =>
        cblas_sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    public static void SetThreads(int threads) => openblas_set_num_threads(threads);

    [LibraryImport(Library)]
    private static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Library)]
    private static partial void openblas_set_num_threads(int threads);
}
