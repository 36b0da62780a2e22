using MedClip.Tensors;
using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

/// <summary>The kernel-backed ops: each picks the F32 or F64 variant of its kernel and a launch shape (grid-stride for flat
/// ops, one warp per row for row ops, 32-column blocks for column reductions).</summary>
public sealed partial class CudaBackend
{
    // ---- elementwise ---------------------------------------------------------------------------------------------------

    public void CopyBlocks(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate)
    {
        SameType(nameof(CopyBlocks), source, destination);
        if (blocks <= 0 || blockLength <= 0) return;
        long sourceEnd = sourceOffset + (blocks - 1) * sourceStride + blockLength;
        long destinationEnd = destinationOffset + (blocks - 1) * destinationStride + blockLength;
        if (sourceOffset < 0 || destinationOffset < 0 || sourceEnd > source.Length || destinationEnd > destination.Length)
            throw new ArgumentException($"CopyBlocks: {blocks} runs of {blockLength} reach past {source.Describe()} or {destination.Describe()}.");
        var grid = ((uint)Math.Min((blockLength + Threads - 1) / Threads, 64), (uint)Math.Min(blocks, 65535));
        Launch(Kernels.ElementwiseCu.CopyBlocks(KernelType(source), P(source), sourceOffset, sourceStride, P(destination), destinationOffset,
            destinationStride, blockLength, blocks, accumulate ? 1 : 0), grid);
    }

    public void AddScaled(Tensor a, double alpha, Tensor b, double beta, Tensor y)
    {
        SameLength(a, b);
        SameLength(a, y);
        SameType(nameof(AddScaled), a, b, y);
        if (a.Length == 0) return;
        if (Vectorizable(a, b, y))
            Launch(Kernels.ElementwiseCu.AddScaledF32Vec4(P(a), (float)alpha, P(b), (float)beta, P(y), a.Length / 4), Blocks(a.Length / 4));
        else
            Launch(Kernels.ElementwiseCu.AddScaled(KernelType(a), P(a), alpha, P(b), beta, P(y), a.Length), Blocks(a.Length));
    }

    public void Axpy(double alpha, Tensor x, Tensor y)
    {
        SameLength(x, y);
        SameType(nameof(Axpy), x, y);
        if (x.Length == 0) return;
        if (Vectorizable(x, y))
            Launch(Kernels.ElementwiseCu.AxpyF32Vec4((float)alpha, P(x), P(y), x.Length / 4), Blocks(x.Length / 4));
        else
            Launch(Kernels.ElementwiseCu.Axpy(KernelType(x), alpha, P(x), P(y), x.Length), Blocks(x.Length));
    }

    public void Scale(Tensor x, double alpha)
    {
        if (x.Length == 0) return;
        Launch(Kernels.ElementwiseCu.Scale(KernelType(x), P(x), alpha, x.Length), Blocks(x.Length));
    }

    public void ScaleByTensor(Tensor x, Tensor factor)
    {
        SameType(nameof(ScaleByTensor), x, factor);
        if (x.Length == 0) return;
        Launch(Kernels.ElementwiseCu.ScaleByTensor(KernelType(x), P(x), P(factor), x.Length), Blocks(x.Length));
    }

    // float4 paths: F32, a length that is a multiple of 4, 16-byte aligned addresses (arena blocks are 512-aligned; exact
    // emulator blocks are aligned when their size is a multiple of 16).
    private bool Vectorizable(params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
        {
            if (t.DType != DType.F32 || t.Length % 4 != 0 || DeviceStorage(t).Pointer % 16 != 0) return false;
        }
        return true;
    }

    // ---- bias ----------------------------------------------------------------------------------------------------------

    public void AddBias(Tensor x, Tensor bias, int rows, int cols)
    {
        SameType(nameof(AddBias), x, bias);
        if (rows == 0 || cols == 0) return;
        var grid = ((uint)Math.Min((cols + Threads - 1) / Threads, 64), (uint)Math.Min(rows, 65535));
        Launch(Kernels.ElementwiseCu.AddBias(KernelType(x), P(x), P(bias), rows, cols), grid);
    }

    public void AddBiasResidual(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols)
    {
        SameType(nameof(AddBiasResidual), x, bias, residual, y);
        SameLength(x, residual);
        SameLength(x, y);
        if (rows == 0 || cols == 0) return;
        if (cols % 4 == 0 && Vectorizable(x, bias, residual, y))
            Launch(Kernels.ElementwiseCu.AddBiasResidualF32Vec4(P(x), P(bias), P(residual), P(y), rows, cols / 4), RowGrid(rows, cols / 4));
        else
            Launch(Kernels.ElementwiseCu.AddBiasResidual(KernelType(x), P(x), P(bias), P(residual), P(y), rows, cols), RowGrid(rows, cols));
    }

    public void AddBiasToBf16(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        SameLength(x, y);
        if (x.DType != DType.F32 || bias.DType != DType.F32 || y.DType != DType.BF16)
            throw new ArgumentException($"AddBiasToBf16: F32 x and bias into a BF16 y, not {x.Describe()}, {bias.Describe()} and {y.Describe()}.");
        if (rows == 0 || cols == 0) return;
        // Four BF16 values are 8 bytes: aligned wherever the F32 rows are (tensors start on arena blocks).
        if (cols % 4 == 0 && Vectorizable(x, bias) && DeviceStorage(y).Pointer % 8 == 0)
            Launch(Kernels.ElementwiseCu.AddBiasToBf16Vec4(P(x), P(bias), P(y), rows, cols / 4), RowGrid(rows, cols / 4));
        else
            Launch(Kernels.ElementwiseCu.AddBiasToBf16(P(x), P(bias), P(y), rows, cols), RowGrid(rows, cols));
    }

    public void BiasBackward(Tensor dy, Tensor dBias, int rows, int cols)
    {
        SameType(nameof(BiasBackward), dy, dBias);
        if (rows == 0 || cols == 0) return;
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.ReduceCu.BiasBackward(KernelType(dy), P(dy), P(dBias), rows, cols, rowsPerSlice), grid, (32, 8));
    }

    public void BiasBackwardEpilogue(Tensor dy, Tensor dBias, Tensor? dResidual, Tensor? dyBf16, int rows, int cols)
    {
        SameType(nameof(BiasBackwardEpilogue), dy, dBias, dResidual);
        if (dResidual is not null) SameLength(dy, dResidual);
        if (dyBf16 is not null)
        {
            SameLength(dy, dyBf16);
            if (dy.DType != DType.F32 || dyBf16.DType != DType.BF16)
                throw new ArgumentException($"BiasBackwardEpilogue: a BF16 copy is of an F32 dy, not {dy.Describe()} into {dyBf16.Describe()}.");
        }
        if (rows == 0 || cols == 0) return;
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.ReduceCu.BiasBackwardEpilogue(KernelType(dy), P(dy), P(dBias), OptionalP(dResidual), OptionalP(dyBf16), rows, cols,
            rowsPerSlice), grid, (32, 8));
    }

    // Column reductions: 32 columns per block along x, slices of rows along y so that narrow, tall inputs still launch a few
    // blocks per multiprocessor; up to 256 rows stay in one slice (deterministic).
    private ((uint X, uint Y) Grid, int RowsPerSlice) ColumnSlices(int rows, int cols)
    {
        long columnBlocks = (cols + 31) / 32;
        long wanted = Math.Max(1, 4L * _device.Multiprocessors / columnBlocks);
        int rowsPerSlice = (int)Math.Max(256, (rows + wanted - 1) / wanted);
        return (((uint)columnBlocks, (uint)((rows + rowsPerSlice - 1) / rowsPerSlice)), rowsPerSlice);
    }

    // ---- layer norm ----------------------------------------------------------------------------------------------------

    public void LayerNormForward(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, double eps)
    {
        bool bf16 = Bf16Output(nameof(LayerNormForward), x, y);
        SameType(nameof(LayerNormForward), x, gamma, beta, bf16 ? null : y, mean, rstd);
        if (rows == 0) return;
        var (px, pGamma, pBeta, py, pMean, pRstd) = (P(x), P(gamma), P(beta), P(y), P(mean), P(rstd));
        bool vec4 = !bf16 && cols % 4 == 0 && Vectorizable(x, gamma, beta, y);
        var call = bf16 ? Kernels.LayernormCu.LayernormForwardF32Bf16(px, pGamma, pBeta, py, pMean, pRstd, rows, cols, (float)eps)
            : vec4 ? Kernels.LayernormCu.LayernormForwardF32Vec4(px, pGamma, pBeta, py, pMean, pRstd, rows, cols, (float)eps)
            : Kernels.LayernormCu.LayernormForward(KernelType(x), px, pGamma, pBeta, py, pMean, pRstd, rows, cols, eps);
        Launch(call, WarpRows(rows));
    }

    // A BF16 output of F32 inputs (bf16 mixed precision's layer norms before a GEMM), after checking its size.
    private static bool Bf16Output(string op, Tensor x, Tensor y)
    {
        SameLength(x, y, op);
        return y.DType == DType.BF16 && x.DType == DType.F32;
    }

    public void LayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma, Tensor dBeta,
        int rows, int cols)
    {
        SameType(nameof(LayerNormBackward), x, dy, gamma, mean, rstd, dx, dGamma, dBeta);
        if (rows == 0) return;
        var t = KernelType(x);
        var (pdy, px, pGamma, pMean, pRstd, pdx) = (P(dy), P(x), P(gamma), P(mean), P(rstd), P(dx));
        bool vec4 = cols % 4 == 0 && Vectorizable(dy, x, gamma, dx);
        Launch(vec4 ? Kernels.LayernormCu.LayernormBackwardInputF32Vec4(pdy, px, pGamma, pMean, pRstd, pdx, rows, cols)
            : Kernels.LayernormCu.LayernormBackwardInput(t, pdy, px, pGamma, pMean, pRstd, pdx, rows, cols), WarpRows(rows));
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.LayernormCu.LayernormBackwardParams(t, pdy, px, pMean, pRstd, P(dGamma), P(dBeta), rows, cols, rowsPerSlice), grid, (32, 8));
    }

    public void AddLayerNormForward(Tensor a, Tensor b, Tensor? sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
        int rows, int cols, double eps)
    {
        bool bf16 = Bf16Output(nameof(AddLayerNormForward), a, y);
        if (bf16 && sum is null) throw new ArgumentException("AddLayerNormForward: a BF16 output needs the sum kept (it cannot hold the F32 sum).");
        SameType(nameof(AddLayerNormForward), a, b, sum, gamma, beta, bf16 ? null : y, mean, rstd);
        if (rows == 0) return;
        bool vec4 = !bf16 && cols % 4 == 0 && Vectorizable(a, b, gamma, beta, y) && (sum is null || Vectorizable(sum));
        var (pa, pb, pSum, pGamma, pBeta, py, pMean, pRstd) = (P(a), P(b), OptionalP(sum), P(gamma), P(beta), P(y), P(mean), P(rstd));
        var call = bf16 ? Kernels.LayernormCu.AddLayernormForwardF32Bf16(pa, pb, pSum, pGamma, pBeta, py, pMean, pRstd, rows, cols, (float)eps)
            : vec4 ? Kernels.LayernormCu.AddLayernormForwardF32Vec4(pa, pb, pSum, pGamma, pBeta, py, pMean, pRstd, rows, cols, (float)eps)
            : Kernels.LayernormCu.AddLayernormForward(KernelType(a), pa, pb, pSum, pGamma, pBeta, py, pMean, pRstd, rows, cols, eps);
        Launch(call, WarpRows(rows));
    }

    public void AddLayerNormBackward(Tensor dy, Tensor a, Tensor b, Tensor gamma, Tensor mean, Tensor rstd, Tensor? da, Tensor? db,
        Tensor dGamma, Tensor dBeta, int rows, int cols)
    {
        SameType(nameof(AddLayerNormBackward), a, dy, b, gamma, mean, rstd, da, db, dGamma, dBeta);
        if (rows == 0) return;
        var t = KernelType(a);
        bool vec4 = cols % 4 == 0 && Vectorizable(dy, a, b, gamma) && (da is null || Vectorizable(da)) && (db is null || Vectorizable(db));
        var (pdy, pa, pb, pGamma, pMean, pRstd, pda, pdb) = (P(dy), P(a), P(b), P(gamma), P(mean), P(rstd), OptionalP(da), OptionalP(db));
        Launch(vec4 ? Kernels.LayernormCu.AddLayernormBackwardInputF32Vec4(pdy, pa, pb, pGamma, pMean, pRstd, pda, pdb, rows, cols)
            : Kernels.LayernormCu.AddLayernormBackwardInput(t, pdy, pa, pb, pGamma, pMean, pRstd, pda, pdb, rows, cols), WarpRows(rows));
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.LayernormCu.AddLayernormBackwardParams(t, pdy, pa, pb, pMean, pRstd, P(dGamma), P(dBeta), rows, cols, rowsPerSlice), grid, (32, 8));
    }

    // ---- activations ---------------------------------------------------------------------------------------------------

    public void ActivationForward(Activation kind, Tensor x, Tensor y)
    {
        SameLength(x, y);
        SameType(nameof(ActivationForward), x, y);
        if (x.Length == 0) return;
        if (Vectorizable(x, y))
            Launch(Kernels.ActivationCu.ActivationForwardF32Vec4((int)kind, P(x), P(y), x.Length / 4), Blocks(x.Length / 4));
        else
            Launch(Kernels.ActivationCu.ActivationForward(KernelType(x), (int)kind, P(x), P(y), x.Length), Blocks(x.Length));
    }

    public void ActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        SameType(nameof(ActivationBackward), x, dy, dx);
        if (x.Length == 0) return;
        if (Vectorizable(x, dy, dx))
            Launch(Kernels.ActivationCu.ActivationBackwardF32Vec4((int)kind, P(x), P(dy), P(dx), x.Length / 4), Blocks(x.Length / 4));
        else
            Launch(Kernels.ActivationCu.ActivationBackward(KernelType(x), (int)kind, P(x), P(dy), P(dx), x.Length), Blocks(x.Length));
    }

    public void BiasActivationForward(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        SameLength(x, y);
        SameType(nameof(BiasActivationForward), x, bias, y);
        if (rows == 0 || cols == 0) return;
        if (cols % 4 == 0 && Vectorizable(x, bias, y))
            Launch(Kernels.ActivationCu.BiasActivationForwardF32Vec4((int)kind, P(x), P(bias), P(y), rows, cols / 4), RowGrid(rows, cols / 4));
        else
            Launch(Kernels.ActivationCu.BiasActivationForward(KernelType(x), (int)kind, P(x), P(bias), P(y), rows, cols), RowGrid(rows, cols));
    }

    public void BiasActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        SameType(nameof(BiasActivationBackward), x, dy, dx, dBias);
        if (rows == 0 || cols == 0) return;
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.ActivationCu.BiasActivationBackward(KernelType(x), (int)kind, P(x), P(dy), P(dx), P(dBias), rows, cols, rowsPerSlice),
            grid, (32, 8));
    }

    public void BiasActivationForwardBf16(Activation kind, Tensor x, Tensor bias, Tensor pre, Tensor y, int rows, int cols)
    {
        CheckBf16Hidden(nameof(BiasActivationForwardBf16), x, bias, pre, y);
        if (rows == 0 || cols == 0) return;
        Launch(Kernels.ActivationCu.BiasActivationForwardF32ToBf16((int)kind, P(x), P(bias), P(pre), P(y), rows, cols), RowGrid(rows, cols));
    }

    public void BiasActivationBackwardBf16(Activation kind, Tensor pre, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        CheckBf16Hidden(nameof(BiasActivationBackwardBf16), dy, dBias, pre, dx);
        if (rows == 0 || cols == 0) return;
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.ActivationCu.BiasActivationBackwardBf16((int)kind, P(pre), P(dy), P(dx), P(dBias), rows, cols, rowsPerSlice), grid, (32, 8));
    }

    // The F32 operands (a [rows, cols] matrix and a [cols] vector) and the two BF16 [rows, cols] ones of the BF16 hidden layer.
    private static void CheckBf16Hidden(string op, Tensor full, Tensor vector, Tensor first, Tensor second)
    {
        if (full.DType != DType.F32 || vector.DType != DType.F32 || first.DType != DType.BF16 || second.DType != DType.BF16)
            throw new ArgumentException($"{op}: needs F32 {full.Describe()} and {vector.Describe()} with BF16 {first.Describe()} and {second.Describe()}.");
        SameLength(full, first, op);
        SameLength(full, second, op);
    }

    // ---- attention softmax ---------------------------------------------------------------------------------------------

    public void SoftmaxForward(Tensor x, Tensor? keyMask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal)
    {
        SameType(nameof(SoftmaxForward), x, y);
        if (keyMask is not null && keyMask.DType != DType.I32)
            throw new ArgumentException($"SoftmaxForward: the key mask {keyMask.Describe()} must be I32.");
        int rows = batch * heads * queries;
        if (rows == 0 || keys == 0) return;
        Launch(Kernels.SoftmaxCu.SoftmaxForward(KernelType(x), P(x), OptionalP(keyMask), P(y), rows, heads * queries, queries, keys, causal ? 1 : 0,
            scale), WarpRows(rows));
    }

    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale)
    {
        SameType(nameof(SoftmaxBackward), y, dy, dx);
        if (rows == 0 || keys == 0) return;
        Launch(Kernels.SoftmaxCu.SoftmaxBackward(KernelType(y), P(y), P(dy), P(dx), rows, keys, scale), WarpRows(rows));
    }

    // ---- fused attention (kernels/attention.cu, attention_tc.cu) -------------------------------------------------------

    /// <summary>Head dimensions with a fused attention kernel: a thread keeps whole rows in registers, so D is compiled in.</summary>
    public static readonly int[] FusedAttentionHeadDims = [8, 16, 32, 64];

    IReadOnlyList<int>? IBackend.FusedAttentionHeadDims => FusedAttentionHeadDims;

    // Threads per block as attention.cu's AttentionTiles: queries for the forward, queries for dq, keys for dk and dv.
    private const int AttentionForwardQueries = 64;
    private static int AttentionDqQueries(Tensor t) => t.DType == DType.F64 ? 32 : 64;
    private static int AttentionDkDvKeys(Tensor t) => t.DType == DType.F64 ? 32 : 64;

    // Threads a key in the dk/dv kernel (attention.cu's DkDvLanes): two at head dimension 64, whose rows would spill.
    private static int AttentionDkDvLanes(int headDim) => headDim >= 64 ? 2 : 1;

    /// <summary>Head dimensions with a tensor-core kernel for bf16's BF16 q, k, v (kernels/attention_tc.cu).</summary>
    public static readonly int[] TensorCoreAttentionHeadDims = [16, 32, 64];

    // The tensor-core kernels' block: 4 warps, 16 rows each.
    private const int TensorCoreAttentionRows = 64, TensorCoreAttentionThreads = 128;

    /// <summary>
    /// Whether bf16's fused attention with BF16 q, k, v runs on tensor cores (compute capability 8.0 and later, head
    /// dimensions <see cref="TensorCoreAttentionHeadDims"/>) or on the CUDA-core kernels; both compute the same rounded
    /// products. On by default where the device has them; tests and benchmarks turn it off to compare the two.
    /// </summary>
    internal bool TensorCoreAttention { get; set; }

    private bool UsesTensorCores(Tensor q, in AttentionShape s) =>
        TensorCoreAttention && q.DType == DType.BF16 && Array.IndexOf(TensorCoreAttentionHeadDims, s.HeadDim) >= 0;

    // A fused attention pass's block: rows of the sequence per block (the grid's y) and threads.
    private readonly record struct AttentionBlock(int Rows, int Threads)
    {
        // The CUDA-core kernels: a thread a row, or lanes threads a key (dk and dv at head dimension 64).
        public static AttentionBlock ThreadPerRow(int rows, int lanes = 1) => new(rows, rows * lanes);
    }

    private static readonly AttentionBlock TensorCoreBlock = new(TensorCoreAttentionRows, TensorCoreAttentionThreads);

    private void Launch(in KernelCall call, in AttentionShape s, AttentionBlock block) =>
        Launch(call, AttentionGrid(s, block.Rows), ((uint)block.Threads, 1));

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, in AttentionShape shape)
    {
        var (dtype, bf16Output) = AttentionVariant(nameof(AttentionForward), shape, q, k, v, o, keyMask, lse);
        if (shape.Elements == 0) return;
        var s = shape;
        var (pq, pk, pv, mask, po, pLse) = (P(q), P(k), P(v), OptionalP(keyMask), P(o), P(lse));
        if (UsesTensorCores(q, s))
            Launch(Kernels.AttentionTcCu.AttentionForwardTc(s.HeadDim, pq, pk, pv, mask, po, pLse, s.Heads, s.Tokens, (float)s.Scale), s, TensorCoreBlock);
        else
            Launch(bf16Output ? Kernels.AttentionCu.AttentionForwardF32Bf16(s.HeadDim, pq, pk, pv, mask, po, pLse, s.Heads, s.Tokens, (float)s.Scale)
                : Kernels.AttentionCu.AttentionForward(dtype, s.HeadDim, pq, pk, pv, mask, po, pLse, s.Heads, s.Tokens, s.Scale), s,
                AttentionBlock.ThreadPerRow(AttentionForwardQueries));
    }

    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, in AttentionShape shape)
    {
        var (dtype, bf16Output) = AttentionVariant(nameof(AttentionBackward), shape, q, k, v, o, keyMask, lse, dO, dq, dk, dv);
        if (shape.Elements == 0 || (dq is null && dk is null && dv is null)) return;
        var s = shape;
        bool tensorCores = UsesTensorCores(q, s);
        Tensor Scratch(long n) => Tensor.Zeros(this, [checked((int)n)], lse.DType);
        var delta = Scratch(s.Rows);
        var (pq, pk, pv, mask, pdO, pLse, pDelta) = (P(q), P(k), P(v), OptionalP(keyMask), P(dO), P(lse), P(delta));
        Launch(bf16Output ? Kernels.AttentionCu.AttentionDeltaF32Bf16(P(o), pdO, pDelta, s.Heads, s.Tokens, s.HeadDim, s.Rows)
            : Kernels.AttentionCu.AttentionDelta(dtype, P(o), pdO, pDelta, s.Heads, s.Tokens, s.HeadDim, s.Rows), Blocks(s.Rows));
        if (dq is not null)
        {
            var pdq = P(dq);
            if (tensorCores)
                Launch(Kernels.AttentionTcCu.AttentionBackwardDqTc(s.HeadDim, pq, pk, pv, mask, pdO, pLse, pDelta, pdq, s.Heads, s.Tokens, (float)s.Scale),
                    s, TensorCoreBlock);
            else
                Launch(Kernels.AttentionCu.AttentionBackwardDq(dtype, s.HeadDim, pq, pk, pv, mask, pdO, pLse, pDelta, pdq, s.Heads, s.Tokens, s.Scale),
                    s, AttentionBlock.ThreadPerRow(AttentionDqQueries(lse)));
        }
        if (dk is not null || dv is not null)
        {
            // One kernel writes both; a gradient nobody asked for goes to a scratch buffer.
            var (pdk, pdv) = (P(dk ?? Scratch(s.Elements)), P(dv ?? Scratch(s.Elements)));
            if (tensorCores)
                Launch(Kernels.AttentionTcCu.AttentionBackwardDkdvTc(s.HeadDim, pq, pk, pv, mask, pdO, pLse, pDelta, pdk, pdv, s.Heads, s.Tokens,
                    (float)s.Scale), s, TensorCoreBlock);
            else
                Launch(Kernels.AttentionCu.AttentionBackwardDkdv(dtype, s.HeadDim, pq, pk, pv, mask, pdO, pLse, pDelta, pdk, pdv, s.Heads, s.Tokens,
                    s.Scale), s, AttentionBlock.ThreadPerRow(AttentionDkDvKeys(lse), AttentionDkDvLanes(s.HeadDim)));
        }
    }

    // Blocks along x for each (batch, head), along y for each tile of rows.
    private static (uint X, uint Y) AttentionGrid(in AttentionShape s, int rowsPerBlock) =>
        ((uint)(s.Batch * s.Heads), (uint)((s.Tokens + rowsPerBlock - 1) / rowsPerBlock));

    /// <summary>
    /// Checks a fused attention call's sizes and types and picks its kernels' variant: the dtype of everything (F32 or
    /// F64), or BF16 for bf16 mixed precision's BF16 q, k, v and o with F32 arithmetic, statistics and gradients; and
    /// whether the output is a BF16 o of F32 inputs. lse holds the arithmetic type; <paramref name="arithmetic"/> (dO and
    /// the gradients) must match it.
    /// </summary>
    private static (DType Variant, bool Bf16Output) AttentionVariant(string op, in AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor o,
        Tensor? keyMask, Tensor lse, params ReadOnlySpan<Tensor?> arithmetic)
    {
        SameType(op, q, k, v);
        SameType(op, lse, arithmetic);
        bool bf16Inputs = q.DType == DType.BF16;
        if (bf16Inputs ? lse.DType != DType.F32 || o.DType != DType.BF16 : lse.DType != q.DType || o.DType != q.DType && !(o.DType == DType.BF16 && q.DType == DType.F32))
            throw new ArgumentException($"{op}: q {q.Describe()}, o {o.Describe()} and lse {lse.Describe()}: inputs, output and statistics share one type, but for bf16's BF16 output of F32 inputs and its BF16 inputs and output with F32 statistics.");
        if (Array.IndexOf(FusedAttentionHeadDims, s.HeadDim) < 0)
            throw new NotSupportedException($"{op}: fused attention on CUDA has kernels for head dimensions {string.Join(", ", FusedAttentionHeadDims)}, not {s.HeadDim}; use the unfused attention (--attention gemm) for this model.");
        foreach (var t in new[] { q, k, v, o }.Concat(arithmetic.ToArray()))
        {
            if (t is not null && t.Length != s.Elements)
                throw new ArgumentException($"{op}: {t.Describe()} is not [{s.Batch}, {s.Tokens}, {s.Heads}*{s.HeadDim}].");
        }
        if (keyMask is not null && (keyMask.DType != DType.I32 || keyMask.Length != (long)s.Batch * s.Tokens))
            throw new ArgumentException($"{op}: the key mask {keyMask.Describe()} must be I32 [{s.Batch}, {s.Tokens}].");
        if (lse.Length != s.Rows)
            throw new ArgumentException($"{op}: lse {lse.Describe()} must be [{s.Batch}, {s.Heads}, {s.Tokens}].");
        if ((long)s.Batch * s.Heads > int.MaxValue)
            throw new ArgumentException($"{op}: {s.Batch} x {s.Heads} (batch x heads) is more blocks than one launch takes.");
        return (bf16Inputs ? DType.BF16 : KernelType(lse, op), !bf16Inputs && o.DType == DType.BF16);
    }

    // ---- embeddings ----------------------------------------------------------------------------------------------------

    public void EmbeddingForward(Tensor table, Tensor ids, Tensor y, int count, int vocab, int width)
    {
        SameType(nameof(EmbeddingForward), table, y);
        if (count == 0 || width == 0) return;
        Launch(Kernels.EmbeddingCu.EmbeddingForward(KernelType(table), P(table), P(ids), P(y), count, vocab, width, ErrorWord()), RowGrid(count, width));
    }

    public void EmbeddingBackward(Tensor dy, Tensor ids, Tensor dTable, int count, int vocab, int width)
    {
        SameType(nameof(EmbeddingBackward), dy, dTable);
        if (count == 0 || width == 0) return;
        Launch(Kernels.EmbeddingCu.EmbeddingBackward(KernelType(dy), P(dy), P(ids), P(dTable), count, vocab, width, ErrorWord()), RowGrid(count, width));
    }

    // Rows along y, columns along x.
    private static (uint X, uint Y) RowGrid(int rows, int cols) => ((uint)Math.Min((cols + Threads - 1) / Threads, 64), (uint)Math.Min(rows, 65535));

    // ---- permutes ------------------------------------------------------------------------------------------------------

    public void Permute(Tensor x, Tensor y, ReadOnlySpan<int> sourceDims, ReadOnlySpan<int> perm, bool accumulate)
    {
        SameLength(x, y);
        SameType(nameof(Permute), x, y);
        int rank = sourceDims.Length;
        if (rank > 6 || perm.Length != rank)
            throw new ArgumentException($"Permute: rank {rank} with {perm.Length} axes; the CUDA kernel handles rank up to 6.");
        if (x.Length == 0) return;
        var sourceStrides = new long[rank];
        long stride = 1;
        for (int a = rank - 1; a >= 0; a--)
        {
            sourceStrides[a] = stride;
            stride *= sourceDims[a];
        }
        // Output axis i (padded to 6 with leading size-1 axes) and the source stride of the axis that lands there.
        Span<int> d = [1, 1, 1, 1, 1, 1];
        Span<long> s = [0, 0, 0, 0, 0, 0];
        for (int i = 0; i < rank; i++)
        {
            d[6 - rank + i] = sourceDims[perm[i]];
            s[6 - rank + i] = sourceStrides[perm[i]];
        }
        var dtype = x.DType == DType.I32 ? DType.I32 : KernelType(x);
        Launch(Kernels.PermuteCu.Permute(dtype, P(x), P(y), x.Length, d[0], d[1], d[2], d[3], d[4], d[5], s[0], s[1], s[2], s[3], s[4], s[5],
            accumulate ? 1 : 0), Blocks(x.Length));
    }

    // ---- L2 normalisation ----------------------------------------------------------------------------------------------

    public void L2NormalizeForward(Tensor x, Tensor y, Tensor norms, int rows, int cols)
    {
        SameType(nameof(L2NormalizeForward), x, y, norms);
        if (rows == 0) return;
        Launch(Kernels.L2normCu.L2normForward(KernelType(x), P(x), P(y), P(norms), rows, cols), WarpRows(rows));
    }

    public void L2NormalizeBackward(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols)
    {
        SameType(nameof(L2NormalizeBackward), y, dy, norms, dx);
        if (rows == 0) return;
        Launch(Kernels.L2normCu.L2normBackward(KernelType(y), P(y), P(dy), P(norms), P(dx), rows, cols), WarpRows(rows));
    }

    // ---- losses --------------------------------------------------------------------------------------------------------

    public void CrossEntropyForward(Tensor logits, Tensor targets, Tensor loss, int rows, int cols, bool alongColumns, double weight)
    {
        SameType(nameof(CrossEntropyForward), logits, loss);
        int count = alongColumns ? cols : rows;
        if (count == 0) return;
        Launch(Kernels.CrossentropyCu.CrossentropyForward(KernelType(logits), P(logits), P(targets), P(loss), rows, cols, alongColumns ? 1 : 0,
            weight, ErrorWord()), WarpRows(count));
    }

    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns,
        double weight)
    {
        SameType(nameof(CrossEntropyBackward), logits, dLoss, dLogits);
        int count = alongColumns ? cols : rows;
        if (count == 0) return;
        Launch(Kernels.CrossentropyCu.CrossentropyBackward(KernelType(logits), P(logits), P(targets), P(dLoss), P(dLogits), rows, cols,
            alongColumns ? 1 : 0, weight, ErrorWord()), WarpRows(count));
    }

    public void InfoNceForwardBackward(Tensor logits, Tensor loss, Tensor dLogits, int n)
    {
        SameType(nameof(InfoNceForwardBackward), logits, loss, dLogits);
        if (logits.Length != (long)n * n || dLogits.Length != logits.Length || loss.Length < 1)
            throw new ArgumentException($"InfoNceForwardBackward: logits {logits.Describe()} and dLogits {dLogits.Describe()} must be [{n}, {n}] and loss {loss.Describe()} one element.");
        if (n == 0) return;
        var stats = Tensor.Zeros(this, [2 * n], logits.DType);
        Launch(Kernels.InfonceCu.Infonce(KernelType(logits), P(logits), P(loss), P(dLogits), P(stats), n), (1, 1));
    }

    public void ExpScaleForward(Tensor x, Tensor logScale, Tensor y, double maxLogScale)
    {
        SameLength(x, y);
        SameType(nameof(ExpScaleForward), x, logScale, y);
        if (x.Length == 0) return;
        Launch(Kernels.CrossentropyCu.ExpScaleForward(KernelType(x), P(x), P(logScale), P(y), x.Length, maxLogScale), Blocks(x.Length));
    }

    public void ExpScaleBackward(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        SameType(nameof(ExpScaleBackward), x, logScale, dy, dx, dLogScale);
        if (x.Length == 0) return;
        Launch(Kernels.CrossentropyCu.ExpScaleBackward(KernelType(x), P(x), P(logScale), P(dy), P(dx), OptionalP(dLogScale), x.Length, maxLogScale),
            Blocks(x.Length));
    }

    // ---- optimizer -----------------------------------------------------------------------------------------------------

    public void SumOfSquares(Tensor x, Tensor sumSquares)
    {
        SameType(nameof(SumOfSquares), x, sumSquares);
        if (x.Length == 0) return;
        Launch(Kernels.ReduceCu.SumOfSquares(KernelType(x), P(x), x.Length, P(sumSquares)), Blocks(x.Length));
    }

    public void ClipByNorm(Tensor x, Tensor sumSquares, double maxNorm)
    {
        SameType(nameof(ClipByNorm), x, sumSquares);
        if (x.Length == 0) return;
        Launch(Kernels.ReduceCu.ClipByNorm(KernelType(x), P(x), P(sumSquares), maxNorm, x.Length), Blocks(x.Length));
    }

    public void AdamW(Tensor parameter, Tensor gradient, Tensor m, Tensor v, in AdamWStep step, Tensor? bf16Copy = null)
    {
        SameLength(parameter, gradient);
        SameType(nameof(AdamW), parameter, gradient, m, v);
        if (bf16Copy is not null && (bf16Copy.DType != DType.BF16 || parameter.DType != DType.F32 || bf16Copy.Length != parameter.Length))
            throw new ArgumentException($"AdamW: the copy {bf16Copy.Describe()} of {parameter.Describe()} must be BF16 of an F32 parameter of its size.");
        if (parameter.Length == 0) return;
        var k = Blocks(parameter.Length);
        if (KernelType(parameter) == DType.F64)
        {
            Launch(Kernels.AdamwCu.AdamwF64(P(parameter), P(gradient), P(m), P(v), parameter.Length, step.LearningRate, step.Beta1, step.Beta2,
                step.Eps, 1 - step.LearningRate * step.WeightDecay, step.BiasCorrection1, Math.Sqrt(step.BiasCorrection2)), k);
            return;
        }
        // The derived constants in float, exactly as the CPU backend forms them.
        float lr = (float)step.LearningRate;
        float decay = 1f - lr * (float)step.WeightDecay;
        if (bf16Copy is not null)
        {
            Launch(Kernels.AdamwCu.AdamwF32Bf16(P(parameter), P(gradient), P(m), P(v), P(bf16Copy), parameter.Length, lr, (float)step.Beta1,
                (float)step.Beta2, (float)step.Eps, decay, (float)step.BiasCorrection1, MathF.Sqrt((float)step.BiasCorrection2)), k);
            return;
        }
        Launch(Kernels.AdamwCu.AdamwF32(P(parameter), P(gradient), P(m), P(v), parameter.Length, lr, (float)step.Beta1, (float)step.Beta2,
            (float)step.Eps, decay, (float)step.BiasCorrection1, MathF.Sqrt((float)step.BiasCorrection2)), k);
    }

    // The multi-tensor AdamW's table: 8 longs (64 bytes) per tensor, kept between steps and written when it changed; each
    // block of the launch updates one chunk of AdamWChunk values (ADAMW_CHUNK in adamw.cu).
    private const int AdamWTableLongs = 8;
    private const int AdamWChunk = 4096;
    private readonly KeptTable _adamwTable = new();

    public void AdamWMultiTensor(ReadOnlySpan<AdamWTensor> tensors)
    {
        if (tensors.IsEmpty) return;
        var first = tensors[0].Step;
        foreach (var t in tensors)
        {
            SameLength(t.Parameter, t.Gradient);
            SameLength(t.Parameter, t.M);
            SameLength(t.Parameter, t.V);
            if (t.Parameter.DType != DType.F32)
            {
                // F64 (gradient checks) has no fused kernel: the per-tensor path gives the same result.
                foreach (var u in tensors) AdamW(u.Parameter, u.Gradient, u.M, u.V, u.Step, u.Bf16Copy);
                return;
            }
            SameType(nameof(AdamWMultiTensor), t.Parameter, t.Gradient, t.M, t.V);
            if (t.Bf16Copy is { } c && (c.DType != DType.BF16 || c.Length != t.Parameter.Length))
                throw new ArgumentException($"AdamWMultiTensor: the copy {c.Describe()} of {t.Parameter.Describe()} must be BF16 of its size.");
            var s = t.Step;
            if (s.Beta1 != first.Beta1 || s.Beta2 != first.Beta2 || s.Eps != first.Eps || s.BiasCorrection1 != first.BiasCorrection1
                || s.BiasCorrection2 != first.BiasCorrection2)
                throw new ArgumentException($"AdamWMultiTensor: {t.Parameter.Describe()} has its own betas, eps or step; only the learning rate and weight decay may differ.");
        }
        var table = new long[tensors.Length * AdamWTableLongs];
        long chunks = 0;
        for (int i = 0; i < tensors.Length; i++)
        {
            var t = tensors[i];
            // The derived constants in float, exactly as the per-tensor launch forms them.
            float lr = (float)t.Step.LearningRate;
            float decay = 1f - lr * (float)t.Step.WeightDecay;
            var row = table.AsSpan(i * AdamWTableLongs, AdamWTableLongs);
            row[0] = (long)DeviceStorage(t.Parameter).Pointer;
            row[1] = (long)DeviceStorage(t.Gradient).Pointer;
            row[2] = (long)DeviceStorage(t.M).Pointer;
            row[3] = (long)DeviceStorage(t.V).Pointer;
            row[4] = t.Bf16Copy is null ? 0 : (long)DeviceStorage(t.Bf16Copy).Pointer;
            row[5] = t.Parameter.Length;
            row[6] = BitConverter.SingleToUInt32Bits(lr) | (long)BitConverter.SingleToUInt32Bits(decay) << 32;
            row[7] = chunks;
            chunks += (t.Parameter.Length + AdamWChunk - 1) / AdamWChunk;
        }
        if (chunks == 0) return;
        if (chunks > int.MaxValue)
            throw new ArgumentException($"AdamWMultiTensor: {chunks:N0} chunks of {AdamWChunk} values exceed one launch; update the parameters in groups.");
        Launch(Kernels.AdamwCu.AdamwMultiF32(_adamwTable.Write(this, table), tensors.Length, (float)first.Beta1, (float)first.Beta2,
            (float)first.Eps, (float)first.BiasCorrection1, MathF.Sqrt((float)first.BiasCorrection2)), ((uint)chunks, 1));
    }
}
