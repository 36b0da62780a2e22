using MedClip.Tensors;
using static MedClip.Backends.Cuda.Native.Cublas;

namespace MedClip.Backends.Cuda;

/// <summary>
/// GEMM through cuBLAS. cuBLAS is column-major; a row-major C = op(A) op(B) is, read column-major, C^T = op(B)^T op(A)^T,
/// so the call passes B first, swaps m and n, and keeps each operand's own transpose flag and natural leading dimension.
/// The handle keeps cuBLAS's default math mode and the compute type decides: F32 runs in FP32 (CUBLAS_COMPUTE_32F never
/// rounds to TF32) unless TF32 is allowed (CUBLAS_COMPUTE_32F_FAST_TF32); F64 in FP64; BF16 inputs accumulate in FP32 into
/// F32 or BF16 C on tensor cores, which pedantic math would forbid.
/// </summary>
public sealed partial class CudaBackend
{
    private readonly nint _cublas;
    private bool _tf32;

    /// <summary>F32 GEMMs on TF32 tensor cores (about 1e-3 relative error) instead of FP32.</summary>
    public bool AllowTf32
    {
        get => _tf32;
        set => _tf32 = value;
    }

    private nint CreateCublas(bool tf32)
    {
        _device.MakeCurrent();
        Check(cublasCreate_v2(out nint handle), "cublasCreate_v2");
        Check(cublasSetStream_v2(handle, _device.Stream), "cublasSetStream_v2");
        Check(cublasSetMathMode(handle, DefaultMath), "cublasSetMathMode");
        _tf32 = tf32;
        return handle;
    }

    public unsafe void Gemm(Tensor a, Tensor b, Tensor c, in GemmShape s)
    {
        CheckExtent(a, s.TransA ? (long)s.K * s.M : (long)s.M * s.K, s.StrideA, "A", s);
        CheckExtent(b, s.TransB ? (long)s.N * s.K : (long)s.K * s.N, s.StrideB, "B", s);
        CheckExtent(c, (long)s.M * s.N, s.StrideC, "C", s);
        if (a.DType != b.DType)
            throw new ArgumentException($"Gemm: A {a.Describe()} and B {b.Describe()} must share a dtype.");
        var (inputType, outputType, computeType) = (a.DType, c.DType) switch
        {
            (DType.F32, DType.F32) => (R32F, R32F, _tf32 ? Compute32FFastTf32 : Compute32F),
            (DType.F64, DType.F64) => (R64F, R64F, Compute64F),
            (DType.BF16, DType.F32) => (R16BF, R32F, Compute32F),
            (DType.BF16, DType.BF16) => (R16BF, R16BF, Compute32F),
            _ => throw new NotSupportedException($"Gemm: {a.DType} inputs into a {c.DType} output are not supported (F32, F64, or BF16 into F32/BF16)."),
        };
        if (s.M == 0 || s.N == 0 || s.Batch == 0) return;
        ulong pa = DeviceStorage(a).Pointer, pb = DeviceStorage(b).Pointer, pc = DeviceStorage(c).Pointer;
        int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
        int opA = s.TransA ? OpT : OpN, opB = s.TransB ? OpT : OpN;
        _device.MakeCurrent();
        double alpha64 = s.Alpha, beta64 = s.Beta;
        float alpha32 = (float)s.Alpha, beta32 = (float)s.Beta;
        void* alpha = computeType == Compute64F ? &alpha64 : &alpha32;
        void* beta = computeType == Compute64F ? &beta64 : &beta32;
        if (s.Batch == 1)
        {
            Check(cublasGemmEx(_cublas, opB, opA, s.N, s.M, s.K, alpha, pb, inputType, ldb, pa, inputType, lda, beta,
                pc, outputType, s.N, computeType, GemmDefault), "cublasGemmEx");
        }
        else
        {
            Check(cublasGemmStridedBatchedEx(_cublas, opB, opA, s.N, s.M, s.K, alpha, pb, inputType, ldb, s.StrideB, pa, inputType, lda,
                s.StrideA, beta, pc, outputType, s.N, s.StrideC, s.Batch, computeType, GemmDefault), "cublasGemmStridedBatchedEx");
        }
    }

    private static void CheckExtent(Tensor t, long matrix, long stride, string which, in GemmShape s)
    {
        long needed = matrix + (s.Batch - 1) * stride;
        if (t.Length < needed)
            throw new ArgumentException($"Gemm: operand {which} {t.Describe()} has {t.Length} elements but {s} needs {needed}.");
    }
}
