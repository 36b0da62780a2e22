using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/attention.cu, attention_tc.cu: fused attention, a thread a query row on CUDA cores (head
// dimension compiled in) or tensor cores for bf16's BF16 q, k, v; the backward recomputes p from the saved log-sum-exp.
public sealed partial class CudaBackend
{
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
}
