using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MedClip.Backends.Cpu;

/// <summary>
/// Row-major strided-batched GEMM for the CPU backend, generic over float and double.
/// Goto/BLIS design: for each slice of k, op(B) is packed once into NR-column panels and op(A), block of rows by block
/// of rows, into MR-row panels (zero-padded, contiguous, in the order the micro-kernel reads them); an MR x NR
/// register-blocked FMA kernel then sweeps them. The cores share the packed B and take row blocks in turn (or whole
/// matrices of a large batch). Transposes only change the strides the packing reads with, so the kernel sees one
/// layout. Small products skip all of this (a direct loop).
/// </summary>
internal static class CpuGemm
{
    // Micro-tile: MR rows x (2 vectors) columns = 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
    private const int MR = 6;
    // Depth of one packed slice: an MR x KC panel of A and a KC x NR panel of B (16 KiB each in float) sit in L1.
    private const int KC = 256;
    // Rows per block: an MC x KC block of packed A (120 KiB in float) stays in L2 while the B panels stream past it.
    private const int MCMax = 120;
    // Columns per block: a KC x NC block of packed B (4 MiB in float) is packed once and shared from L3.
    private const int NC = 4096;
    // Below this many multiply-adds per matrix, packing costs more than it saves.
    private const long DirectMaxWork = 1 << 15;
    // Below this many multiply-adds in total, handing work to other cores costs more than it saves.
    private const long ParallelMinWork = 1 << 18;

    /// <summary>
    /// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] for b in [0, batch), all row-major.
    /// op(A) is [m, k]: A is stored [m, k] (lda >= k) or, when transA, [k, m] (lda >= m). op(B) is [k, n]: B stored [k, n] or, when transB, [n, k].
    /// Batch b's matrices start at aOffset + b*strideA etc. (a stride of 0 broadcasts one matrix over the batch).
    /// beta == 0 means C is overwritten (its old contents, even NaN, are ignored).
    /// </summary>
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        long work = (long)g.M * g.N * g.K;
        int threads = Environment.ProcessorCount;
        if (threads == 1 || batch * work < ParallelMinWork)
        {
            for (int bi = 0; bi < batch; bi++) GemmPacked(g, bi, parallel: false);
        }
        else if (batch >= 2 * threads || work < ParallelMinWork)
        {
            // Many matrices: each core takes whole ones, with no hand-offs inside a product.
            Parallel.For(0, batch, bi => GemmPacked(g, bi, parallel: false));
        }
        else
        {
            for (int bi = 0; bi < batch; bi++) GemmPacked(g, bi, parallel: true);
        }
    }

    /// <summary>
    /// One product. For each NC-wide block of columns and KC-deep slice of k, B is packed once into the calling
    /// thread's buffer (shared by all cores, read-only once packed); then blocks of rows, each packing its own A,
    /// sweep it. When parallel, both phases are split over the cores and there are enough row blocks for all of them.
    /// </summary>
    private static unsafe void GemmPacked<T>(Operands<T> g, int bi, bool parallel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector256<T>.Count;
        int units = parallel ? 2 * Environment.ProcessorCount : 1;
        int rowBlocks = Math.Max(CeilDiv(g.M, MCMax), Math.Min(CeilDiv(g.M, MR), units));
        int mc = CeilDiv(CeilDiv(g.M, rowBlocks), MR) * MR;
        rowBlocks = CeilDiv(g.M, mc);
        for (int j0 = 0; j0 < g.N; j0 += NC)
        {
            int cols = Math.Min(NC, g.N - j0);
            int panels = CeilDiv(cols, nr);
            // Too few rows to keep every core busy: split the panels too (each piece packs the same A).
            int panelChunks = Math.Min(panels, CeilDiv(units, rowBlocks));
            int packChunks = Math.Min(panels, units);
            T* packedB = PackBuffer<T>.ForB(KC * panels * nr);
            for (int p0 = 0; p0 < g.K; p0 += KC)
            {
                int kc = Math.Min(KC, g.K - p0);
                ForEach(parallel, packChunks, chunk =>
                    PackB(g, bi, j0, cols, p0, kc, panels * chunk / packChunks, panels * (chunk + 1) / packChunks, packedB));
                ForEach(parallel, rowBlocks * panelChunks, block =>
                {
                    int chunk = block % panelChunks, i0 = block / panelChunks * mc;
                    MultiplyBlock(g, bi, i0, Math.Min(mc, g.M - i0), j0, cols, p0, kc,
                        panels * chunk / panelChunks, panels * (chunk + 1) / panelChunks, packedB);
                });
            }
        }
    }

    private static void ForEach(bool parallel, int count, Action<int> body)
    {
        if (parallel && count > 1) Parallel.For(0, count, body);
        else for (int i = 0; i < count; i++) body(i);
    }

    /// <summary>Packs panels [panel0, panel1) of op(B)[p0 .. p0+kc, j0 .. j0+cols) into their slots of packedB.</summary>
    private static unsafe void PackB<T>(in Operands<T> g, int bi, int j0, int cols, int p0, int kc, int panel0, int panel1, T* packedB)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector256<T>.Count;
        int first = panel0 * nr, count = Math.Min(cols, panel1 * nr) - first;
        fixed (T* pb = g.B)
        {
            T* b = pb + g.BOffset + bi * g.BStride + p0 * g.DepthB + (j0 + first) * g.ColB;
            PackPanels(b, g.ColB, g.DepthB, count, kc, nr, packedB + first * kc);
        }
    }

    /// <summary>
    /// C[i0 .. i0+rows, panels panel0 .. panel1 of the column block at j0] (+)= alpha * A-slice @ packed B-slice:
    /// packs the rows' slice of op(A), then runs the micro-kernel over every MR x NR tile, B panel by B panel, so each
    /// B panel is read from L1 by all the row panels while the packed A block stays in L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MultiplyBlock<T>(in Operands<T> g, int bi, int i0, int rows, int j0, int cols, int p0, int kc,
        int panel0, int panel1, T* packedB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector256<T>.Count;
        T* packedA = PackBuffer<T>.ForA(MCMax * KC + MR * nr);
        T* edge = packedA + MCMax * KC;
        // Later slices of k add onto what the first one wrote.
        T beta = p0 == 0 ? g.Beta : T.One;
        fixed (T* pa = g.A, pc = g.C)
        {
            T* a = pa + g.AOffset + bi * g.AStride + i0 * g.RowA + p0 * g.DepthA;
            PackPanels(a, g.RowA, g.DepthA, rows, kc, MR, packedA);
            T* c = pc + g.COffset + bi * g.CStride + i0 * g.Ldc + j0;
            for (int jr = panel0 * nr; jr < Math.Min(cols, panel1 * nr); jr += nr)
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

    /// <summary>
    /// Packs `count` rows (of A) or columns (of B), `kc` deep, into panels of `width`: panel q holds, for each depth p,
    /// the `width` values src[(q*width + r)*across + p*depth], with zeros past `count`.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PackPanels<T>(T* src, long across, long depth, int count, int kc, int width, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int q0 = 0; q0 < count; q0 += width, dst += kc * width)
        {
            int w = Math.Min(width, count - q0);
            T* s = src + q0 * across;
            if (w < width) new Span<T>(dst, kc * width).Clear();
            if (across == 1 && w == 2 * Vector256<T>.Count)
            {
                // A full B panel, contiguous at each depth (B as stored): two vector copies per depth.
                int v = Vector256<T>.Count;
                for (int p = 0; p < kc; p++)
                {
                    Vector256.Load(s + p * depth).Store(dst + p * width);
                    Vector256.Load(s + p * depth + v).Store(dst + p * width + v);
                }
            }
            else if (across == 1)
            {
                // Contiguous at each depth but narrow (A transposed, or a ragged B panel).
                for (int p = 0; p < kc; p++)
                for (int r = 0; r < w; r++) dst[p * width + r] = s[p * depth + r];
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

    /// <summary>
    /// Pinned, 64-byte-aligned scratch per thread and element type, grown on demand, never freed. Two areas: packed A
    /// (used within one block's work) and packed B (held by the thread that runs a product, read by all cores).
    /// </summary>
    private static class PackBuffer<T> where T : unmanaged
    {
        [ThreadStatic] private static T[]? a;
        [ThreadStatic] private static T[]? b;

        public static unsafe T* ForA(int elements) => Get(ref a, elements);

        public static unsafe T* ForB(int elements) => Get(ref b, elements);

        private static unsafe T* Get(ref T[]? storage, int elements)
        {
            int pad = 64 / sizeof(T);
            if (storage is null || storage.Length < elements + pad)
                storage = GC.AllocateUninitializedArray<T>(elements + pad, pinned: true);
            nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(storage));
            return (T*)((address + 63) & ~(nint)63);
        }
    }
}
