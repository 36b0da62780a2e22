using System.Runtime.InteropServices;

namespace MedClip.Backends.Cuda.Native;

/// <summary>
/// The cuBLAS subset of the binding contract (libcublas.so.13 / .12): handle, stream, math mode and the Ex GEMMs.
/// cuBLAS is column-major; alpha and beta are host pointers to the compute type's scalar.
/// </summary>
internal static unsafe partial class Cublas
{
    public const string Library = "medclip-cublas";

    public const int OpN = 0, OpT = 1;
    public const int DefaultMath = 0;
    public const int R32F = 0, R64F = 1, R16BF = 14;
    public const int Compute32F = 68, Compute32FFastTf32 = 77, Compute64F = 70;
    public const int GemmDefault = -1;

    [LibraryImport(Library)] public static partial int cublasCreate_v2(out nint handle);
    [LibraryImport(Library)] public static partial int cublasDestroy_v2(nint handle);
    [LibraryImport(Library)] public static partial int cublasSetStream_v2(nint handle, nint stream);
    [LibraryImport(Library)] public static partial int cublasSetMathMode(nint handle, int mode);
    [LibraryImport(Library)] public static partial byte* cublasGetStatusString(int status);

    [LibraryImport(Library)]
    public static partial int cublasGemmEx(nint handle, int transa, int transb, int m, int n, int k, void* alpha,
        ulong a, int aType, int lda, ulong b, int bType, int ldb, void* beta, ulong c, int cType, int ldc, int computeType, int algo);

    [LibraryImport(Library)]
    public static partial int cublasGemmStridedBatchedEx(nint handle, int transa, int transb, int m, int n, int k, void* alpha,
        ulong a, int aType, int lda, long strideA, ulong b, int bType, int ldb, long strideB, void* beta,
        ulong c, int cType, int ldc, long strideC, int batchCount, int computeType, int algo);

    public static void Check(int status, string call)
    {
        if (status != 0) throw new CudaException(call, status, StatusString(status), "cuBLAS call failed");
    }

    public static string StatusString(int status)
    {
        var text = cublasGetStatusString(status);
        return text == null ? $"cublasStatus_t {status}" : Marshal.PtrToStringUTF8((nint)text)!;
    }
}
