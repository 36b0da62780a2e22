using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's GEMM: F32 or F64 operands through the one dtype dispatch; bf16's BF16 operands as an F32 GEMM of their
// exactly widened values.
public sealed partial class CpuBackend
{
    public void Gemm(Tensor a, Tensor b, Tensor c, in GemmShape s)
    {
        CheckGemmExtent(a, s.TransA ? (long)s.K * s.M : (long)s.M * s.K, s.StrideA, s.Batch, "A", s);
        CheckGemmExtent(b, s.TransB ? (long)s.N * s.K : (long)s.K * s.N, s.StrideB, s.Batch, "B", s);
        CheckGemmExtent(c, (long)s.M * s.N, s.StrideC, s.Batch, "C", s);
        if (a.DType == DType.BF16 || b.DType == DType.BF16)
        {
            // bf16 emulation: the operands are exact in float, so an F32 GEMM of their widened values is an FP32
            // accumulation of the BF16 products.
            if (a.DType != b.DType || c.DType != DType.F32)
                throw new NotSupportedException($"Gemm: the CPU backend multiplies BF16 A and B into an F32 C, not {a.Describe()} @ {b.Describe()} into {c.Describe()}.");
            RunGemm(_gemm, Widened(a), Widened(b), D<float>(c), s);
        }
        else Dispatch(a, new GemmOp(_gemm, a, b, c, s));
    }

    private readonly struct GemmOp(CpuGemm gemm, Tensor a, Tensor b, Tensor c, GemmShape s) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => RunGemm(gemm, of[a], of[b], of[c], s);
    }

    private static void RunGemm<T>(CpuGemm gemm, T[] a, T[] b, T[] c, in GemmShape s) where T : unmanaged, IFloatingPointIeee754<T> =>
        gemm.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, T.CreateTruncating(s.Alpha), a, 0, s.TransA ? s.M : s.K, s.StrideA,
            b, 0, s.TransB ? s.K : s.N, s.StrideB, T.CreateTruncating(s.Beta), c, 0, s.N, s.StrideC, s.Batch);

    private static void CheckGemmExtent(Tensor t, long matrix, long stride, int batch, string which, in GemmShape s)
    {
        long needed = matrix + (batch - 1) * stride;
        if (t.Length < needed)
            throw new ArgumentException($"Gemm: operand {which} {t.Describe()} has {t.Length} elements but {s} needs {needed}.");
    }
}

/// <summary>
/// Row-major strided-batched GEMM for the CPU backend, generic over float and double, at the vector width of its
/// <see cref="CpuGemmPath"/>. Small products run a direct loop; the rest the packed, register-blocked kernels of
/// <see cref="CpuGemmPacked{T, TVec, TOps}"/>.
/// Numerics, the same on every path: an output element sums its products in k order, starting from zero, in slices of
/// <see cref="CpuGemmPacked{T, TVec, TOps}.KC"/>, with FMA (the direct loop: a multiply, then an add); the first slice
/// writes alpha * sum (+ beta * C), each later one C = alpha * sum + C.
/// </summary>
internal sealed class CpuGemm
{
    // Below this many multiply-adds per matrix, packing costs more than it saves.
    private const long DirectMaxWork = 1 << 15;
    // Below this many multiply-adds in total, handing work to other cores costs more than it saves.
    internal const long ParallelMinWork = 1 << 18;

    /// <param name="path">The vector width; the CPU must accelerate it (<see cref="CpuGemmPaths.IsAccelerated"/>).</param>
    public CpuGemm(CpuGemmPath path)
    {
        if (!CpuGemmPaths.IsAccelerated(path))
            throw new ArgumentException($"CpuGemm: this CPU does not accelerate the {CpuGemmPaths.Name(path)} path.", nameof(path));
        Path = path;
    }

    public CpuGemmPath Path { get; }

    /// <summary>
    /// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] for b in [0, batch), all row-major.
    /// op(A) is [m, k]: A is stored [m, k] (lda >= k) or, when transA, [k, m] (lda >= m). op(B) is [k, n]: B stored [k, n] or, when transB, [n, k].
    /// Batch b's matrices start at aOffset + b*strideA etc. (a stride of 0 broadcasts one matrix over the batch).
    /// beta == 0 means C is overwritten (its old contents, even NaN, are ignored).
    /// </summary>
    public void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        T[] a, long aOffset, int lda, long strideA,
        T[] b, long bOffset, int ldb, long strideB,
        T beta, T[] c, long cOffset, int ldc, long strideC, int batch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0 || batch < 0)
            throw new ArgumentOutOfRangeException(nameof(m), $"Gemm sizes must be non-negative, got m={m} n={n} k={k} batch={batch}.");
        CheckOperand("A", a.Length, aOffset, transA ? k : m, transA ? m : k, lda, strideA, batch);
        CheckOperand("B", b.Length, bOffset, transB ? n : k, transB ? k : n, ldb, strideB, batch);
        CheckOperand("C", c.Length, cOffset, m, n, ldc, strideC, batch);
        if (batch > 1 && m > 0 && n > 0 && strideC < (long)(m - 1) * ldc + n)
            throw new ArgumentException($"Gemm: C's batch stride {strideC} makes the batch's outputs overlap.", nameof(strideC));
        if (m == 0 || n == 0 || batch == 0) return;

        // op(A)[i, p] = a[i*RowA + p*DepthA], op(B)[p, j] = b[p*DepthB + j*ColB]: the transposes end here.
        var g = new GemmOperands<T>(a, aOffset, strideA, transA ? 1 : lda, transA ? lda : 1,
            b, bOffset, strideB, transB ? 1 : ldb, transB ? ldb : 1,
            c, cOffset, strideC, ldc, m, n, k, alpha, beta);

        if (k == 0 || alpha == T.Zero) ScaleC(g, batch);
        else if ((long)m * n * k < DirectMaxWork || Path == CpuGemmPath.Scalar) RunDirect(g, batch);
        else if (Path == CpuGemmPath.Vector512) CpuGemmPacked<T, Vector512<T>, GemmVector512<T>>.Run(g, batch);
        else CpuGemmPacked<T, Vector256<T>, GemmVector256<T>>.Run(g, batch);
    }

    private static void CheckOperand(string name, int length, long offset, int rows, int cols, int ld, long stride, int batch)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(name, $"Gemm: {name}'s leading dimension {ld} is smaller than its {cols} columns.");
        if (offset < 0 || stride < 0)
            throw new ArgumentOutOfRangeException(name, $"Gemm: {name}'s offset {offset} and batch stride {stride} must be non-negative.");
        if (rows == 0 || cols == 0 || batch == 0) return;
        long end = offset + (batch - 1) * stride + (long)(rows - 1) * ld + cols;
        if (end > length)
            throw new ArgumentException($"Gemm: {name} needs {end} elements for {batch} x [{rows}, {cols}] (ld {ld}) but has {length}.", name);
    }

    // ---- k == 0 or alpha == 0: C = beta * C, A and B unread (as in BLAS) -------------------------------------------

    private static unsafe void ScaleC<T>(in GemmOperands<T> g, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* c = g.C)
        {
            for (int bi = 0; bi < batch; bi++)
            for (int i = 0; i < g.M; i++)
            {
                var row = new Span<T>(c + g.COffset + bi * g.CStride + i * g.Ldc, g.N);
                if (g.Beta == T.Zero) row.Clear();
                else foreach (ref T x in row) x *= g.Beta;
            }
        }
    }

    // ---- direct path: small products, and every product on the scalar path -----------------------------------------

    private static void RunDirect<T>(GemmOperands<T> g, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long work = (long)batch * g.M * g.N * g.K;
        if (work < ParallelMinWork)
        {
            for (int bi = 0; bi < batch; bi++) DirectRows(g, bi, 0, g.M);
            return;
        }
        // Many small matrices: one task per matrix; few big ones (scalar path): split their rows too.
        int chunksPerMatrix = batch >= 4 * Environment.ProcessorCount ? 1 : Math.Min(g.M, 4 * Environment.ProcessorCount);
        Parallel.For(0, batch * chunksPerMatrix, t =>
        {
            int chunk = t % chunksPerMatrix;
            DirectRows(g, t / chunksPerMatrix, g.M * chunk / chunksPerMatrix, g.M * (chunk + 1) / chunksPerMatrix);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectRows<T>(in GemmOperands<T> g, int bi, int rowStart, int rowEnd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* pa = g.A, pb = g.B, pc = g.C)
        {
            T* a = pa + g.AOffset + bi * g.AStride;
            T* b = pb + g.BOffset + bi * g.BStride;
            T* c = pc + g.COffset + bi * g.CStride;
            for (int i = rowStart; i < rowEnd; i++)
            {
                T* aRow = a + i * g.RowA;
                T* cRow = c + i * g.Ldc;
                for (int j = 0; j < g.N; j++)
                {
                    T* bCol = b + j * g.ColB;
                    T sum = T.Zero;
                    for (int p = 0; p < g.K; p++) sum += aRow[p * g.DepthA] * bCol[p * g.DepthB];
                    cRow[j] = g.Beta == T.Zero ? g.Alpha * sum : g.Alpha * sum + g.Beta * cRow[j];
                }
            }
        }
    }
}

/// <summary>One GEMM call's operands, with op(A)[i, p] = A[i*RowA + p*DepthA] and op(B)[p, j] = B[p*DepthB + j*ColB].</summary>
internal readonly record struct GemmOperands<T>(
    T[] A, long AOffset, long AStride, long RowA, long DepthA,
    T[] B, long BOffset, long BStride, long DepthB, long ColB,
    T[] C, long COffset, long CStride, long Ldc,
    int M, int N, int K, T Alpha, T Beta);
