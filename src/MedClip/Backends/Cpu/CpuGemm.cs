using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MedClip.Backends.Cpu;

/// <summary>
/// Row-major strided-batched GEMM for the CPU backend, generic over float and double.
/// Goto/BLIS design: C is cut into tiles that the cores take in turn; for each slice of k a tile packs its rows of
/// op(A) into MR-row panels and its columns of op(B) into NR-column panels (zero-padded, contiguous, in the order the
/// micro-kernel reads them), then an MR x NR register-blocked FMA kernel sweeps them. Transposes only change the
/// strides the packing reads with, so the kernel sees one layout. Small products skip all of this (direct loop).
/// </summary>
internal static class CpuGemm
{
    // Micro-tile: MR rows x (2 vectors) columns = 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
    private const int MR = 6;
    // Depth of one packed slice: an MR x KC panel of A and a KC x NR panel of B (16 KiB each in float) sit in L1.
    private const int KC = 256;
    // Largest tile: its MC x KC block of packed A stays in L2 while the B panels stream past it.
    private const int MCMax = 120;
    private const int NCMax = 512;
    // Below this many multiply-adds per matrix, packing costs more than it saves.
    private const long DirectMaxWork = 1 << 15;
    // Below this many multiply-adds in total, handing work to other cores costs more than it saves.
    private const long ParallelMinWork = 1 << 18;

    /// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] for b in [0, batch), all row-major.
    /// op(A) is [m, k]: A is stored [m, k] (lda >= k) or, when transA, [k, m] (lda >= m). op(B) is [k, n]: B stored [k, n] or, when transB, [n, k].
    /// Batch b's matrices start at aOffset + b*strideA etc. (a stride of 0 broadcasts one matrix over the batch).
    /// beta == 0 means C is overwritten (its old contents, even NaN, are ignored).
    public static void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha,
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
        var g = new Operands<T>(a, aOffset, strideA, transA ? 1 : lda, transA ? lda : 1,
            b, bOffset, strideB, transB ? 1 : ldb, transB ? ldb : 1,
            c, cOffset, strideC, ldc, m, n, k, alpha, beta);

        if (k == 0 || alpha == T.Zero) ScaleC(g, batch);
        else if ((long)m * n * k < DirectMaxWork || !Vector256.IsHardwareAccelerated) RunDirect(g, batch);
        else RunPacked(g, batch);
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

    private readonly record struct Operands<T>(
        T[] A, long AOffset, long AStride, long RowA, long DepthA,
        T[] B, long BOffset, long BStride, long DepthB, long ColB,
        T[] C, long COffset, long CStride, long Ldc,
        int M, int N, int K, T Alpha, T Beta);

    // ---- k == 0 or alpha == 0: C = beta * C, A and B unread (as in BLAS) -------------------------------------------

    private static unsafe void ScaleC<T>(in Operands<T> g, int batch) where T : unmanaged, IFloatingPointIeee754<T>
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

    // ---- direct path: small products, and any product where 256-bit SIMD is not hardware-accelerated ---------------

    private static void RunDirect<T>(Operands<T> g, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long work = (long)batch * g.M * g.N * g.K;
        if (work < ParallelMinWork)
        {
            for (int bi = 0; bi < batch; bi++) DirectRows(g, bi, 0, g.M);
            return;
        }
        // Many small matrices: one task per matrix; few big ones (scalar fallback): split their rows too.
        int chunksPerMatrix = batch >= 4 * Environment.ProcessorCount ? 1 : Math.Min(g.M, 4 * Environment.ProcessorCount);
        Parallel.For(0, batch * chunksPerMatrix, t =>
        {
            int chunk = t % chunksPerMatrix;
            DirectRows(g, t / chunksPerMatrix, g.M * chunk / chunksPerMatrix, g.M * (chunk + 1) / chunksPerMatrix);
        });
    }

    private static unsafe void DirectRows<T>(in Operands<T> g, int bi, int rowStart, int rowEnd)
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

    // ---- packed path ----------------------------------------------------------------------------------------------

    private static void RunPacked<T>(Operands<T> g, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector256<T>.Count;
        int threads = Environment.ProcessorCount;
        long work = (long)batch * g.M * g.N * g.K;

        // Cut until every core gets several tiles, so that taking them in turn evens out the load,
        // but not below 4 micro-tiles a side, where packing would start to show.
        int tilesM = CeilDiv(g.M, MCMax), tilesN = CeilDiv(g.N, NCMax);
        while (work >= ParallelMinWork && (long)batch * tilesM * tilesN < 4 * threads)
        {
            int rows = CeilDiv(g.M, tilesM), cols = CeilDiv(g.N, tilesN);
            if (cols >= rows && cols > 4 * nr) tilesN++;
            else if (rows > 4 * MR) tilesM++;
            else if (cols > 4 * nr) tilesN++;
            else break;
        }
        int mc = CeilDiv(CeilDiv(g.M, tilesM), MR) * MR;
        int nc = CeilDiv(CeilDiv(g.N, tilesN), nr) * nr;
        tilesM = CeilDiv(g.M, mc);
        tilesN = CeilDiv(g.N, nc);
        int tiles = batch * tilesM * tilesN;

        if (tiles == 1 || work < ParallelMinWork)
        {
            for (int t = 0; t < tiles; t++) RunTile(g, t, tilesM, tilesN, mc, nc);
            return;
        }
        Parallel.For(0, tiles, t => RunTile(g, t, tilesM, tilesN, mc, nc));
    }

    private static unsafe void RunTile<T>(in Operands<T> g, int tile, int tilesM, int tilesN, int mc, int nc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector256<T>.Count;
        int bi = tile / (tilesM * tilesN);
        int i0 = tile % (tilesM * tilesN) / tilesN * mc;
        int j0 = tile % tilesN * nc;
        int rows = Math.Min(mc, g.M - i0);
        int cols = Math.Min(nc, g.N - j0);

        T* packedA = PackBuffer<T>.Get(MCMax * KC + KC * NCMax + MR * nr);
        T* packedB = packedA + MCMax * KC;
        T* edge = packedB + KC * NCMax;
        fixed (T* pa = g.A, pb = g.B, pc = g.C)
        {
            T* a = pa + g.AOffset + bi * g.AStride + i0 * g.RowA;
            T* b = pb + g.BOffset + bi * g.BStride + j0 * g.ColB;
            T* c = pc + g.COffset + bi * g.CStride + i0 * g.Ldc + j0;
            for (int p0 = 0; p0 < g.K; p0 += KC)
            {
                int kc = Math.Min(KC, g.K - p0);
                // Later slices of k add onto what the first one wrote.
                T beta = p0 == 0 ? g.Beta : T.One;
                PackPanels(b + p0 * g.DepthB, g.ColB, g.DepthB, cols, kc, nr, packedB);
                PackPanels(a + p0 * g.DepthA, g.RowA, g.DepthA, rows, kc, MR, packedA);
                for (int jr = 0; jr < cols; jr += nr)
                for (int ir = 0; ir < rows; ir += MR)
                {
                    T* ap = packedA + ir * kc;
                    T* bp = packedB + jr * kc;
                    T* cTile = c + ir * g.Ldc + jr;
                    int tileRows = Math.Min(MR, rows - ir), tileCols = Math.Min(nr, cols - jr);
                    if (tileRows == MR && tileCols == nr)
                    {
                        MicroKernel(kc, ap, bp, cTile, g.Ldc, g.Alpha, beta);
                        continue;
                    }
                    // Ragged edge: full tile into scratch, then only the valid part into C.
                    MicroKernel(kc, ap, bp, edge, nr, T.One, T.Zero);
                    for (int r = 0; r < tileRows; r++)
                    for (int j = 0; j < tileCols; j++)
                    {
                        T* cij = cTile + r * g.Ldc + j;
                        T v = g.Alpha * edge[r * nr + j];
                        *cij = beta == T.Zero ? v : v + beta * *cij;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs `count` rows (of A) or columns (of B), `kc` deep, into panels of `width`: panel q holds, for each depth p,
    /// the `width` values src[(q*width + r)*across + p*depth], with zeros past `count`.
    /// </summary>
    private static unsafe void PackPanels<T>(T* src, long across, long depth, int count, int kc, int width, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int q0 = 0; q0 < count; q0 += width, dst += kc * width)
        {
            int w = Math.Min(width, count - q0);
            T* s = src + q0 * across;
            if (w < width) new Span<T>(dst, kc * width).Clear();
            if (across == 1)
            {
                // The panel's values are contiguous at each depth (A transposed, or B as stored).
                for (int p = 0; p < kc; p++)
                    new ReadOnlySpan<T>(s + p * depth, w).CopyTo(new Span<T>(dst + p * width, w));
            }
            else
            {
                // Each row of the panel is contiguous in depth: read it straight, write every width-th slot.
                for (int r = 0; r < w; r++)
                {
                    T* line = s + r * across;
                    T* to = dst + r;
                    for (int p = 0; p < kc; p++) to[p * width] = line[p * depth];
                }
            }
        }
    }

    /// <summary>
    /// c[MR, 2 vectors] = alpha * (ap panel)^T-by-(bp panel) + beta * c: for each depth p, MR broadcasts of A times two
    /// vectors of B, accumulated in registers. beta == 0 writes c without reading it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MicroKernel<T>(int kc, T* ap, T* bp, T* c, long ldc, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, ap += MR, bp += 2 * w)
        {
            Vector256<T> b0 = Vector256.Load(bp), b1 = Vector256.Load(bp + w);
            Vector256<T> x = Vector256.Create(ap[0]);
            c00 = MulAdd(x, b0, c00); c01 = MulAdd(x, b1, c01);
            x = Vector256.Create(ap[1]);
            c10 = MulAdd(x, b0, c10); c11 = MulAdd(x, b1, c11);
            x = Vector256.Create(ap[2]);
            c20 = MulAdd(x, b0, c20); c21 = MulAdd(x, b1, c21);
            x = Vector256.Create(ap[3]);
            c30 = MulAdd(x, b0, c30); c31 = MulAdd(x, b1, c31);
            x = Vector256.Create(ap[4]);
            c40 = MulAdd(x, b0, c40); c41 = MulAdd(x, b1, c41);
            x = Vector256.Create(ap[5]);
            c50 = MulAdd(x, b0, c50); c51 = MulAdd(x, b1, c51);
        }
        StoreRow(c, w, c00, c01, alpha, beta);
        StoreRow(c + ldc, w, c10, c11, alpha, beta);
        StoreRow(c + 2 * ldc, w, c20, c21, alpha, beta);
        StoreRow(c + 3 * ldc, w, c30, c31, alpha, beta);
        StoreRow(c + 4 * ldc, w, c40, c41, alpha, beta);
        StoreRow(c + 5 * ldc, w, c50, c51, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow<T>(T* c, int w, Vector256<T> left, Vector256<T> right, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Vector256<T> va = Vector256.Create(alpha);
        if (beta == T.Zero)
        {
            (left * va).Store(c);
            (right * va).Store(c + w);
            return;
        }
        Vector256<T> vb = Vector256.Create(beta);
        MulAdd(left, va, Vector256.Load(c) * vb).Store(c);
        MulAdd(right, va, Vector256.Load(c + w) * vb).Store(c + w);
    }

    /// <summary>x * y + acc, fused where the CPU has FMA (the typeof tests fold away when the JIT specialises T).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> MulAdd<T>(Vector256<T> x, Vector256<T> y, Vector256<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Fma.IsSupported && typeof(T) == typeof(float))
            return Fma.MultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>();
        if (Fma.IsSupported && typeof(T) == typeof(double))
            return Fma.MultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();
        return x * y + acc;
    }

    private static int CeilDiv(int x, int y) => (x + y - 1) / y;

    /// <summary>One pinned, 64-byte-aligned scratch area per thread and element type, grown on demand, never freed.</summary>
    private static class PackBuffer<T> where T : unmanaged
    {
        [ThreadStatic] private static T[]? storage;

        public static unsafe T* Get(int elements)
        {
            int pad = 64 / sizeof(T);
            if (storage is null || storage.Length < elements + pad)
                storage = GC.AllocateUninitializedArray<T>(elements + pad, pinned: true);
            nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(storage));
            return (T*)((address + 63) & ~(nint)63);
        }
    }
}
