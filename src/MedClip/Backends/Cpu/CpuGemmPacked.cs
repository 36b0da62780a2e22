using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MedClip.Backends.Cpu;

/// <summary>
/// The packed GEMM at one vector width (TOps over TVec). Goto/BLIS design: for each slice of k, op(B) is packed once
/// into NR-column panels (NR = two vectors) and op(A), block of rows by block of rows, into MR-row panels (zero-padded,
/// contiguous, in the order the micro-kernel reads them); an MR x NR register-blocked FMA kernel then sweeps them. The
/// cores share the packed B and take row blocks in turn (or whole matrices of a large batch). Transposes only change the
/// strides the packing reads with, so the kernel sees one layout.
/// </summary>
internal static class CpuGemmPacked<T, TVec, TOps>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TVec : struct
    where TOps : IGemmVector<T, TVec>
{
    // Micro-tile: MR rows x 2 vectors = 12 accumulators + 2 B vectors + 1 broadcast, within 16 registers.
    private const int MR = 6;
    // Depth of one packed slice. It fixes where an element's sum is cut (see CpuGemm), so it is part of the numerics:
    // changing it changes results. An MR x KC panel of A and a KC x NR panel of B (32 KiB at 512 bits) sit in L1.
    public const int KC = 256;
    // Rows per block: an MC x KC block of packed A (120 KiB in float) stays in L2 while the B panels stream past it.
    private const int MCMax = 120;
    // Columns per block: a KC x NC block of packed B (4 MiB in float) is packed once and shared from L3.
    private const int NC = 4096;

    private static int NR => 2 * TOps.Count;

    public static void Run(GemmOperands<T> g, int batch)
    {
        long work = (long)g.M * g.N * g.K;
        int threads = Environment.ProcessorCount;
        if (threads == 1 || batch * work < CpuGemm.ParallelMinWork)
        {
            for (int bi = 0; bi < batch; bi++) GemmPacked(g, bi, parallel: false);
        }
        else if (batch >= 2 * threads || work < CpuGemm.ParallelMinWork)
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
    private static unsafe void GemmPacked(GemmOperands<T> g, int bi, bool parallel)
    {
        if (parallel && g.K > KC && CeilDiv(g.M, MCMax) <= Environment.ProcessorCount)
        {
            GemmPackedRowsPerCore(g, bi);
            return;
        }
        int nr = NR;
        int units = parallel ? 2 * Environment.ProcessorCount : 1;
        var (rowBlocks, mc) = RowBlocks(g.M, Math.Max(CeilDiv(g.M, MCMax), Math.Min(CeilDiv(g.M, MR), units)));
        for (int j0 = 0; j0 < g.N; j0 += NC)
        {
            int cols = Math.Min(NC, g.N - j0);
            int panels = CeilDiv(cols, nr);
            // Too few rows to keep every core busy: split the panels too (each piece packs the same A).
            int panelChunks = Math.Min(panels, CeilDiv(units, rowBlocks));
            int packChunks = Math.Min(panels, units);
            T* packedB = PackBuffer.ForB(KC * panels * nr);
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

    /// <summary>
    /// One product with few rows and several slices of k (a weight gradient: k runs over the batch's tokens): each core
    /// takes its rows (or panels) through every slice, packing the B panels it reads itself, so the product makes one
    /// hand-off between cores instead of two per slice. Every tile sees the same slices in the same order as in
    /// <see cref="GemmPacked"/>, so the results are the same bits.
    /// </summary>
    private static unsafe void GemmPackedRowsPerCore(GemmOperands<T> g, int bi)
    {
        int nr = NR, cores = Environment.ProcessorCount;
        var (rowBlocks, mc) = RowBlocks(g.M, Math.Min(CeilDiv(g.M, MR), cores));
        for (int j0 = 0; j0 < g.N; j0 += NC)
        {
            int cols = Math.Min(NC, g.N - j0);
            int panels = CeilDiv(cols, nr);
            int panelChunks = Math.Min(panels, CeilDiv(cores, rowBlocks));
            Parallel.For(0, rowBlocks * panelChunks, block =>
            {
                int chunk = block % panelChunks, i0 = block / panelChunks * mc;
                int panel0 = panels * chunk / panelChunks, panel1 = panels * (chunk + 1) / panelChunks;
                T* packedB = PackBuffer.ForB(KC * panels * nr);
                for (int p0 = 0; p0 < g.K; p0 += KC)
                {
                    int kc = Math.Min(KC, g.K - p0);
                    PackB(g, bi, j0, cols, p0, kc, panel0, panel1, packedB);
                    MultiplyBlock(g, bi, i0, Math.Min(mc, g.M - i0), j0, cols, p0, kc, panel0, panel1, packedB);
                }
            });
        }
    }

    // Splits m rows into about `wanted` blocks of whole MR-row panels: the block count and the rows per block.
    private static (int Blocks, int Rows) RowBlocks(int m, int wanted)
    {
        int mc = CeilDiv(CeilDiv(m, wanted), MR) * MR;
        return (CeilDiv(m, mc), mc);
    }

    private static void ForEach(bool parallel, int count, Action<int> body)
    {
        if (parallel && count > 1) Parallel.For(0, count, body);
        else for (int i = 0; i < count; i++) body(i);
    }

    /// <summary>Packs panels [panel0, panel1) of op(B)[p0 .. p0+kc, j0 .. j0+cols) into their slots of packedB.</summary>
    private static unsafe void PackB(in GemmOperands<T> g, int bi, int j0, int cols, int p0, int kc, int panel0, int panel1, T* packedB)
    {
        int nr = NR;
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
    private static unsafe void MultiplyBlock(in GemmOperands<T> g, int bi, int i0, int rows, int j0, int cols, int p0, int kc,
        int panel0, int panel1, T* packedB)
    {
        int nr = NR;
        T* packedA = PackBuffer.ForA(MCMax * KC + MR * nr);
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
                // Ragged edge: the same kernel on a full-size copy of the tile, so that its elements are computed
                // exactly like the others; then only the valid part goes back.
                if (beta != T.Zero)
                    for (int r = 0; r < tileRows; r++) new Span<T>(cTile + r * g.Ldc, tileCols).CopyTo(new Span<T>(edge + r * nr, tileCols));
                MicroKernel(kc, ap, bp, edge, nr, g.Alpha, beta);
                for (int r = 0; r < tileRows; r++) new Span<T>(edge + r * nr, tileCols).CopyTo(new Span<T>(cTile + r * g.Ldc, tileCols));
            }
        }
    }

    /// <summary>
    /// Packs `count` rows (of A) or columns (of B), `kc` deep, into panels of `width`: panel q holds, for each depth p,
    /// the `width` values src[(q*width + r)*across + p*depth], with zeros past `count`.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PackPanels(T* src, long across, long depth, int count, int kc, int width, T* dst)
    {
        int v = TOps.Count;
        for (int q0 = 0; q0 < count; q0 += width, dst += kc * width)
        {
            int w = Math.Min(width, count - q0);
            T* s = src + q0 * across;
            if (w < width) new Span<T>(dst, kc * width).Clear();
            if (across == 1 && w == 2 * v)
            {
                // A full B panel, contiguous at each depth (B as stored): two vector copies per depth.
                for (int p = 0; p < kc; p++)
                {
                    TOps.Store(TOps.Load(s + p * depth), dst + p * width);
                    TOps.Store(TOps.Load(s + p * depth + v), dst + p * width + v);
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
    private static unsafe void MicroKernel(int kc, T* ap, T* bp, T* c, long ldc, T alpha, T beta)
    {
        int w = TOps.Count;
        TVec c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        TVec c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, ap += MR, bp += 2 * w)
        {
            TVec b0 = TOps.Load(bp), b1 = TOps.Load(bp + w);
            TVec x = TOps.Broadcast(ap[0]);
            c00 = TOps.MulAdd(x, b0, c00); c01 = TOps.MulAdd(x, b1, c01);
            x = TOps.Broadcast(ap[1]);
            c10 = TOps.MulAdd(x, b0, c10); c11 = TOps.MulAdd(x, b1, c11);
            x = TOps.Broadcast(ap[2]);
            c20 = TOps.MulAdd(x, b0, c20); c21 = TOps.MulAdd(x, b1, c21);
            x = TOps.Broadcast(ap[3]);
            c30 = TOps.MulAdd(x, b0, c30); c31 = TOps.MulAdd(x, b1, c31);
            x = TOps.Broadcast(ap[4]);
            c40 = TOps.MulAdd(x, b0, c40); c41 = TOps.MulAdd(x, b1, c41);
            x = TOps.Broadcast(ap[5]);
            c50 = TOps.MulAdd(x, b0, c50); c51 = TOps.MulAdd(x, b1, c51);
        }
        StoreRow(c, w, c00, c01, alpha, beta);
        StoreRow(c + ldc, w, c10, c11, alpha, beta);
        StoreRow(c + 2 * ldc, w, c20, c21, alpha, beta);
        StoreRow(c + 3 * ldc, w, c30, c31, alpha, beta);
        StoreRow(c + 4 * ldc, w, c40, c41, alpha, beta);
        StoreRow(c + 5 * ldc, w, c50, c51, alpha, beta);
    }

    /// <summary>c = alpha * sum (beta == 0, c unread) or alpha * sum + (beta * c) with one rounding of the add.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow(T* c, int w, TVec left, TVec right, T alpha, T beta)
    {
        TVec va = TOps.Broadcast(alpha);
        if (beta == T.Zero)
        {
            TOps.Store(TOps.Multiply(left, va), c);
            TOps.Store(TOps.Multiply(right, va), c + w);
            return;
        }
        TVec vb = TOps.Broadcast(beta);
        TOps.Store(TOps.MulAdd(left, va, TOps.Multiply(TOps.Load(c), vb)), c);
        TOps.Store(TOps.MulAdd(right, va, TOps.Multiply(TOps.Load(c + w), vb)), c + w);
    }

    private static int CeilDiv(int x, int y) => (x + y - 1) / y;

    /// <summary>
    /// Pinned, 64-byte-aligned scratch per thread, grown on demand, never freed. Two areas: packed A (used within one
    /// block's work) and packed B (held by the thread that runs a product, read by all cores).
    /// </summary>
    private static class PackBuffer
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
