using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MedClip.Backends.Cpu;

/// <summary>
/// The packed GEMM at one vector width (TOps over TVec). Goto/BLIS design with row-major roles: for each slice of k,
/// op(B) is packed into NR-column panels (NR = two vectors; zero-padded, contiguous, in the order the micro-kernel reads
/// them), and an MR x NR register-blocked FMA kernel sweeps them, reading op(A) in place (its MR x KC panel stays in L1
/// while the B panels stream from L2). A product's rows (or, when they are few, its panels too) are split over the cores,
/// each taking its part through every slice and packing the B panels it reads, so cores hand off once per product.
/// Transposes only change the strides the kernel and the packing read with.
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
    // Columns per block: a KC x NC block of packed B (1 MiB in float) stays in L2 while A's row panels sweep it.
    private const int NC = 1024;

    private static int NR => 2 * TOps.Count;

    public static void Run(GemmOperands<T> g, int batch)
    {
        long work = (long)g.M * g.N * g.K;
        int threads = Environment.ProcessorCount;
        if (threads == 1 || batch * work < CpuGemm.ParallelMinWork)
        {
            for (int bi = 0; bi < batch; bi++) GemmPacked(g, bi, 1);
        }
        else if (batch >= 2 * threads || work < CpuGemm.ParallelMinWork)
        {
            // Many matrices: each core takes whole ones, with no hand-offs inside a product.
            CpuWorkers.For(batch, bi => GemmPacked(g, bi, 1));
        }
        else
        {
            for (int bi = 0; bi < batch; bi++) GemmPacked(g, bi, threads);
        }
    }

    /// <summary>
    /// One product in `parts` pieces, run in parallel when more than one: the rows are split into whole MR-row panels,
    /// and when there are fewer row blocks than parts each block's B panels are split too. A piece goes through every
    /// column block and slice of k on its own, so every tile sees the same slices in the same order however the product
    /// is split: the results are the same bits.
    /// </summary>
    private static unsafe void GemmPacked(GemmOperands<T> g, int bi, int parts)
    {
        int nr = NR;
        var (rowBlocks, mc) = RowBlocks(g.M, Math.Min(CeilDiv(g.M, MR), parts));
        int panelChunks = Math.Max(1, parts / rowBlocks);
        CpuWorkers.For(rowBlocks * panelChunks, piece =>
        {
            int chunk = piece % panelChunks, i0 = piece / panelChunks * mc;
            T* packedB = PackBuffer.ForB(KC * CeilDiv(NC, nr) * nr);
            for (int j0 = 0; j0 < g.N; j0 += NC)
            {
                int cols = Math.Min(NC, g.N - j0), panels = CeilDiv(cols, nr);
                int panel0 = panels * chunk / panelChunks, panel1 = panels * (chunk + 1) / panelChunks;
                for (int p0 = 0; p0 < g.K; p0 += KC)
                {
                    int kc = Math.Min(KC, g.K - p0);
                    PackB(g, bi, j0, cols, p0, kc, panel0, panel1, packedB);
                    MultiplyBlock(g, bi, i0, Math.Min(mc, g.M - i0), j0, cols, p0, kc, panel0, panel1, packedB);
                }
            }
        });
    }

    // Splits m rows into about `wanted` blocks of whole MR-row panels: the block count and the rows per block.
    private static (int Blocks, int Rows) RowBlocks(int m, int wanted)
    {
        int mc = CeilDiv(CeilDiv(m, wanted), MR) * MR;
        return (CeilDiv(m, mc), mc);
    }

    /// <summary>Packs panels [panel0, panel1) of op(B)[p0 .. p0+kc, j0 .. j0+cols) into their slots of packedB.</summary>
    private static unsafe void PackB(in GemmOperands<T> g, int bi, int j0, int cols, int p0, int kc, int panel0, int panel1, T* packedB)
    {
        int nr = NR;
        int first = panel0 * nr, count = Math.Min(cols, panel1 * nr) - first;
        if (count <= 0) return;
        fixed (T* pb = g.B)
        {
            T* b = pb + g.BOffset + bi * g.BStride + p0 * g.DepthB + (j0 + first) * g.ColB;
            PackPanels(b, g.ColB, g.DepthB, count, kc, nr, packedB + first * kc);
        }
    }

    /// <summary>
    /// C[i0 .. i0+rows, panels panel0 .. panel1 of the column block at j0] (+)= alpha * A-slice @ packed B-slice: runs
    /// the micro-kernel over every MR x NR tile, row panel by row panel, so each MR x kc panel of A (read in place) is
    /// read from L1 by all the B panels, which stream from L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MultiplyBlock(in GemmOperands<T> g, int bi, int i0, int rows, int j0, int cols, int p0, int kc,
        int panel0, int panel1, T* packedB)
    {
        int nr = NR;
        T* edge = PackBuffer.ForEdge(MR * nr);
        // Later slices of k add onto what the first one wrote.
        T beta = p0 == 0 ? g.Beta : T.One;
        fixed (T* pa = g.A, pc = g.C)
        {
            T* a = pa + g.AOffset + bi * g.AStride + i0 * g.RowA + p0 * g.DepthA;
            T* c = pc + g.COffset + bi * g.CStride + i0 * g.Ldc + j0;
            for (int ir = 0; ir < rows; ir += MR)
            {
                T* ap = a + ir * g.RowA;
                int tileRows = Math.Min(MR, rows - ir);
                for (int jr = panel0 * nr; jr < Math.Min(cols, panel1 * nr); jr += nr)
                {
                    T* bp = packedB + jr * kc;
                    T* cTile = c + ir * g.Ldc + jr;
                    int tileCols = Math.Min(nr, cols - jr);
                    if (tileRows == MR && tileCols == nr)
                    {
                        MicroKernel(kc, ap, g.RowA, g.DepthA, MR, bp, cTile, g.Ldc, g.Alpha, beta);
                        continue;
                    }
                    // Ragged edge: the same kernel on a full-size copy of the tile, so that its elements are computed
                    // exactly like the others; then only the valid part goes back.
                    if (beta != T.Zero)
                        for (int r = 0; r < tileRows; r++) new Span<T>(cTile + r * g.Ldc, tileCols).CopyTo(new Span<T>(edge + r * nr, tileCols));
                    MicroKernel(kc, ap, g.RowA, g.DepthA, tileRows, bp, edge, nr, g.Alpha, beta);
                    for (int r = 0; r < tileRows; r++) new Span<T>(edge + r * nr, tileCols).CopyTo(new Span<T>(cTile + r * g.Ldc, tileCols));
                }
            }
        }
    }

    /// <summary>
    /// Packs `count` columns of op(B), `kc` deep, into panels of `width`: panel q holds, for each depth p,
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
                // A full panel, contiguous at each depth (B as stored): two vector copies per depth.
                for (int p = 0; p < kc; p++)
                {
                    TOps.Store(TOps.Load(s + p * depth), dst + p * width);
                    TOps.Store(TOps.Load(s + p * depth + v), dst + p * width + v);
                }
            }
            else if (across == 1)
            {
                // Contiguous at each depth but narrow: a ragged panel.
                for (int p = 0; p < kc; p++)
                for (int r = 0; r < w; r++) dst[p * width + r] = s[p * depth + r];
            }
            else
            {
                // B transposed: each column is contiguous in depth; read it straight, write every width-th slot.
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
    /// c[MR, 2 vectors] = alpha * A-panel-by-(bp panel) + beta * c, with A's element (r, p) at a[r*across + p*depth]
    /// (rows past `rows` read row rows - 1): for each depth p, MR broadcasts of A times two vectors of B, accumulated
    /// in registers. beta == 0 writes c without reading it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MicroKernel(int kc, T* a, long across, long depth, int rows, T* bp, T* c, long ldc, T alpha, T beta)
    {
        int w = TOps.Count;
        T* a0 = a, a1 = a + Math.Min(1, rows - 1) * across, a2 = a + Math.Min(2, rows - 1) * across;
        T* a3 = a + Math.Min(3, rows - 1) * across, a4 = a + Math.Min(4, rows - 1) * across, a5 = a + Math.Min(5, rows - 1) * across;
        TVec c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        TVec c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        long o = 0;
        for (int p = 0; p < kc; p++, o += depth, bp += 2 * w)
        {
            TVec b0 = TOps.Load(bp), b1 = TOps.Load(bp + w);
            TVec x = TOps.Broadcast(a0[o]);
            c00 = TOps.MulAdd(x, b0, c00); c01 = TOps.MulAdd(x, b1, c01);
            x = TOps.Broadcast(a1[o]);
            c10 = TOps.MulAdd(x, b0, c10); c11 = TOps.MulAdd(x, b1, c11);
            x = TOps.Broadcast(a2[o]);
            c20 = TOps.MulAdd(x, b0, c20); c21 = TOps.MulAdd(x, b1, c21);
            x = TOps.Broadcast(a3[o]);
            c30 = TOps.MulAdd(x, b0, c30); c31 = TOps.MulAdd(x, b1, c31);
            x = TOps.Broadcast(a4[o]);
            c40 = TOps.MulAdd(x, b0, c40); c41 = TOps.MulAdd(x, b1, c41);
            x = TOps.Broadcast(a5[o]);
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
    /// Pinned, 64-byte-aligned scratch per thread, grown on demand, never freed: the packed B panels a piece of a product
    /// reads, and one tile for ragged edges.
    /// </summary>
    private static class PackBuffer
    {
        [ThreadStatic] private static T[]? edge;
        [ThreadStatic] private static T[]? b;

        public static unsafe T* ForEdge(int elements) => Get(ref edge, elements);

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
