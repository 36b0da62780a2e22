using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>
/// The managed reference backend. Each op writes its kernel call once, in a small struct op generic over the element
/// type, and one dispatch picks the type (double for F64, else float): the kernels are generic over float and double,
/// so the same code serves training (F32) and gradient checks (F64). BF16 is a storage format here (cast it to F32 to
/// compute), except as GEMM operands: bf16 mixed precision is emulated by an F32 GEMM of the exactly widened BF16 values.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    public static CpuBackend Instance { get; } = new(CpuGemmPaths.Host);

    private readonly CpuGemm _gemm;

    /// <param name="gemmPath">The GEMM's vector width (<see cref="CpuGemmPaths.Host"/>: the widest this CPU accelerates).</param>
    public CpuBackend(CpuGemmPath gemmPath) => _gemm = new CpuGemm(gemmPath);

    /// <summary>The vector width the GEMMs run at; every width gives the same bits.</summary>
    public CpuGemmPath GemmPath => _gemm.Path;

    public string Name => "cpu";

    /// <summary>The managed attention takes any head dimension.</summary>
    public IReadOnlyList<int>? FusedAttentionHeadDims => null;

    /// <summary>Large arrays allocated in the scope go back to the buffer pool when it ends (see <see cref="CpuBufferPool"/>).</summary>
    public IDisposable OpenScope() => _pool.OpenScope();

    private readonly CpuBufferPool _pool = new();

    public Storage Allocate(DType dtype, long length) => Allocate(dtype, length, this);

    public Storage AllocateUninitialized(DType dtype, long length) => Allocate(dtype, length, this, zeroed: false);

    /// <summary>
    /// A buffer whose tensors dispatch their ops to <paramref name="owner"/> (this backend or a decorator of it), zero-filled
    /// unless the caller overwrites every element (<paramref name="zeroed"/> false).
    /// </summary>
    public Storage Allocate(DType dtype, long length, IBackend owner, bool zeroed = true) => dtype switch
    {
        DType.F32 => Tracked(new CpuStorage<float>(owner, _pool.Rent<float>(length, zeroed))),
        DType.F64 => Tracked(new CpuStorage<double>(owner, _pool.Rent<double>(length, zeroed))),
        DType.BF16 => Tracked(new CpuStorage<ushort>(owner, _pool.Rent<ushort>(length, zeroed))),
        DType.I32 => Tracked(new CpuStorage<int>(owner, _pool.Rent<int>(length, zeroed))),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    private CpuStorage<T> Tracked<T>(CpuStorage<T> storage) where T : unmanaged
    {
        _pool.Track(storage);
        return storage;
    }

    public void CopyFromHost<T>(ReadOnlySpan<T> source, Storage destination) where T : unmanaged =>
        source.CopyTo(Array<T>(destination));

    public void CopyToHost<T>(Storage source, Span<T> destination) where T : unmanaged =>
        Array<T>(source).AsSpan(0, destination.Length).CopyTo(destination);

    public void Fill(Tensor x, double value)
    {
        switch (x.DType)
        {
            case DType.F32: D<float>(x).AsSpan(0, (int)x.Length).Fill((float)value); break;
            case DType.F64: D<double>(x).AsSpan(0, (int)x.Length).Fill(value); break;
            case DType.BF16: D<ushort>(x).AsSpan(0, (int)x.Length).Fill(BFloat16.FromSingle((float)value)); break;
            case DType.I32: D<int>(x).AsSpan(0, (int)x.Length).Fill(checked((int)value)); break;
        }
    }

    public void Cast(Tensor source, Tensor destination)
    {
        SameLength(source, destination);
        int n = (int)source.Length;
        // The rounding step of every bf16 GEMM operand in CPU-emulated mixed precision, and its way back: one parallel pass.
        if (source.DType == DType.F32 && destination.DType == DType.BF16)
        {
            RoundInto(D<float>(source), destination);
            return;
        }
        if (source.DType == DType.BF16 && destination.DType == DType.F32)
        {
            WidenInto(D<ushort>(source), D<float>(destination));
            return;
        }
        var wide = new double[n];
        switch (source.DType)
        {
            case DType.F32: for (int i = 0; i < n; i++) wide[i] = D<float>(source)[i]; break;
            case DType.F64: D<double>(source).AsSpan(0, n).CopyTo(wide); break;
            case DType.BF16: for (int i = 0; i < n; i++) wide[i] = BFloat16.ToSingle(D<ushort>(source)[i]); break;
            default: throw new NotSupportedException($"Cast: cannot cast {source.Describe()} to {destination.DType}.");
        }
        switch (destination.DType)
        {
            case DType.F32: for (int i = 0; i < n; i++) D<float>(destination)[i] = (float)wide[i]; break;
            case DType.F64: wide.CopyTo(D<double>(destination), 0); break;
            case DType.BF16: for (int i = 0; i < n; i++) D<ushort>(destination)[i] = BFloat16.FromSingle((float)wide[i]); break;
            default: throw new NotSupportedException($"Cast: cannot cast {source.Describe()} to {destination.DType}.");
        }
    }

    public void CopyBlocks(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate) =>
        Dispatch(source, new CopyBlocksOp(source, sourceOffset, sourceStride, destination, destinationOffset, destinationStride, blockLength, blocks, accumulate));

    private readonly struct CopyBlocksOp(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuElementwise<T>.CopyBlocks(of[source], sourceOffset, sourceStride, of[destination], destinationOffset, destinationStride, blockLength, blocks, accumulate);
    }

    public void AddScaled(Tensor a, double alpha, Tensor b, double beta, Tensor y)
    {
        SameLength(a, b);
        SameLength(a, y);
        Dispatch(a, new AddScaledOp(a, alpha, b, beta, y));
    }

    private readonly struct AddScaledOp(Tensor a, double alpha, Tensor b, double beta, Tensor y) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuElementwise<T>.AddScaled(of[a], T.CreateTruncating(alpha), of[b], T.CreateTruncating(beta), of[y], a.Length);
    }

    public void Axpy(double alpha, Tensor x, Tensor y)
    {
        SameLength(x, y);
        Dispatch(x, new AxpyOp(alpha, x, y));
    }

    private readonly struct AxpyOp(double alpha, Tensor x, Tensor y) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuElementwise<T>.Axpy(T.CreateTruncating(alpha), of[x], of[y], x.Length);
    }

    public void Scale(Tensor x, double alpha) => Dispatch(x, new ScaleOp(x, alpha));

    private readonly struct ScaleOp(Tensor x, double alpha) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.Scale(of[x], T.CreateTruncating(alpha), x.Length);
    }

    public void ScaleByTensor(Tensor x, Tensor factor) => Scale(x, factor.Item());

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

    public void AddBias(Tensor x, Tensor bias, int rows, int cols, Tensor? y = null)
    {
        if (y is null) Dispatch(x, new AddBiasOp(x, bias, rows, cols));
        else AddBiasToBf16(x, bias, y, rows, cols);
    }

    private readonly struct AddBiasOp(Tensor x, Tensor bias, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.AddBias(of[x], of[bias], rows, cols);
    }

    public void AddBiasResidual(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols) =>
        Dispatch(x, new AddBiasResidualOp(x, bias, residual, y, rows, cols));

    private readonly struct AddBiasResidualOp(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuElementwise<T>.AddBiasResidual(of[x], of[bias], of[residual], of[y], rows, cols);
    }

    // y = bf16(x + bias), x only read: the F32 sums of AddBias, rounded.
    private static void AddBiasToBf16(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        if (x.DType != DType.F32 || bias.DType != DType.F32 || y.DType != DType.BF16)
            throw new ArgumentException($"AddBias: an output y is BF16 and x and bias F32, not {x.Describe()}, {bias.Describe()} and {y.Describe()}.");
        var (wide, b, rounded) = (D<float>(x), D<float>(bias), D<ushort>(y));
        CpuParallel.ForRows(rows, cols, (start, end) =>
        {
            var sum = new float[cols];
            for (int r = start; r < end; r++)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(wide.AsSpan(r * cols, cols), b.AsSpan(0, cols), sum);
                var row = rounded.AsSpan(r * cols, cols);
                for (int c = 0; c < cols; c++) row[c] = BFloat16.FromSingle(sum[c]);
            }
        });
    }

    // The three ops in turn: the same values, the sums in BiasBackward's order.
    public void BiasBackwardEpilogue(Tensor dy, Tensor dBias, Tensor? dResidual, Tensor? dyBf16, int rows, int cols)
    {
        if (dyBf16 is not null && (dy.DType != DType.F32 || dyBf16.DType != DType.BF16))
            throw new ArgumentException($"BiasBackwardEpilogue: a BF16 copy is of an F32 dy, not {dy.Describe()} into {dyBf16.Describe()}.");
        BiasBackward(dy, dBias, rows, cols);
        if (dResidual is not null) Axpy(1, dy, dResidual);
        if (dyBf16 is not null) Cast(dy, dyBf16);
    }

    public void BiasBackward(Tensor dy, Tensor dBias, int rows, int cols) => Dispatch(dy, new BiasBackwardOp(dy, dBias, rows, cols));

    private readonly struct BiasBackwardOp(Tensor dy, Tensor dBias, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.BiasBackward(of[dy], of[dBias], rows, cols);
    }

    public void ActivationForward(Activation kind, Tensor x, Tensor y)
    {
        SameLength(x, y);
        Dispatch(x, new ActivationForwardOp(kind, x, y));
    }

    private readonly struct ActivationForwardOp(Activation kind, Tensor x, Tensor y) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuActivations<T>.Forward(kind, of[x], of[y], x.Length);
    }

    public void ActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        Dispatch(x, new ActivationBackwardOp(kind, x, dy, dx));
    }

    private readonly struct ActivationBackwardOp(Activation kind, Tensor x, Tensor dy, Tensor dx) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuActivations<T>.Backward(kind, of[x], of[dy], of[dx], x.Length);
    }

    public void BiasActivationForward(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols, Tensor? pre = null)
    {
        SameLength(x, y);
        if (pre is null) Dispatch(x, new BiasActivationForwardOp(kind, x, bias, y, rows, cols));
        else Bf16HiddenForward(kind, x, bias, pre, y, rows, cols);
    }

    private readonly struct BiasActivationForwardOp(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuActivations<T>.BiasForward(kind, of[x], of[bias], of[y], rows, cols);
    }

    public void BiasActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        if (x.DType == DType.BF16) Bf16HiddenBackward(kind, x, dy, dx, dBias, rows, cols);
        else Dispatch(x, new BiasActivationBackwardOp(kind, x, dy, dx, dBias, rows, cols));
    }

    private readonly struct BiasActivationBackwardOp(Activation kind, Tensor x, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuActivations<T>.BiasBackward(kind, of[x], of[dy], of[dx], of[dBias], rows, cols);
    }

    // bf16 mixed precision's BF16 values: rounded to nearest even from F32 (outputs computed in F32 as the CUDA kernels
    // compute them), and widened back to F32 for arithmetic, each in one parallel pass.
    private static void RoundInto(float[] wide, Tensor y)
    {
        var rounded = D<ushort>(y);
        CpuParallel.ForElements(wide.Length, (s, e) =>
        {
            for (int i = s; i < e; i++) rounded[i] = BFloat16.FromSingle(wide[i]);
        });
    }

    private static void WidenInto(ushort[] rounded, float[] wide) =>
        CpuParallel.ForElements(wide.Length, (s, e) =>
        {
            for (int i = s; i < e; i++) wide[i] = BFloat16.ToSingle(rounded[i]);
        });

    // An F32 tensor's values, or a BF16 one's widened to F32, exactly (a bf16 is the top half of a float): bf16 mixed
    // precision's BF16 activations and GEMM operands.
    private static float[] Widened(Tensor t)
    {
        if (t.DType != DType.BF16) return D<float>(t);
        var wide = new float[t.Length];
        WidenInto(D<ushort>(t), wide);
        return wide;
    }

    // bf16's hidden layer: pre = bf16(x + bias), y = bf16(f(pre)), x only read.
    private static void Bf16HiddenForward(Activation kind, Tensor x, Tensor bias, Tensor pre, Tensor y, int rows, int cols)
    {
        // In F32 through the unfused CPU ops, rounding where the CUDA kernel rounds: pre after the bias add, y after f.
        long n = (long)rows * cols;
        var hidden = new float[n];
        System.Array.Copy(D<float>(x), hidden, n);
        CpuElementwise<float>.AddBias(hidden, D<float>(bias), rows, cols);
        RoundInto(hidden, pre);
        WidenInto(D<ushort>(pre), hidden);
        var output = new float[n];
        CpuActivations<float>.Forward(kind, hidden, output, n);
        RoundInto(output, y);
    }

    // bf16's hidden layer: g = dy f'(pre) in F32, dx = bf16(g), dBias += column sums of g.
    private static void Bf16HiddenBackward(Activation kind, Tensor pre, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        var g = new float[(long)rows * cols];
        CpuActivations<float>.BiasBackward(kind, Widened(pre), D<float>(dy), g, D<float>(dBias), rows, cols);
        RoundInto(g, dx);
    }

    public void SoftmaxForward(Tensor x, Tensor? keyMask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal) =>
        Dispatch(x, new SoftmaxForwardOp(x, Optional<int>(keyMask), y, batch, heads, queries, keys, scale, causal));

    private readonly struct SoftmaxForwardOp(Tensor x, int[]? mask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuSoftmax<T>.Forward(of[x], mask, of[y], batch, heads, queries, keys, T.CreateTruncating(scale), causal);
    }

    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale) =>
        Dispatch(y, new SoftmaxBackwardOp(y, dy, dx, rows, keys, scale));

    private readonly struct SoftmaxBackwardOp(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuSoftmax<T>.Backward(of[y], of[dy], of[dx], rows, keys, T.CreateTruncating(scale));
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, in AttentionShape shape)
    {
        var mask = Optional<int>(keyMask);
        if (o.DType == DType.BF16)
        {
            // bf16 mixed precision's BF16 output (of F32 or BF16 inputs): computed in F32, then rounded.
            var wide = new float[o.Length];
            CpuAttention<float>.Forward(Widened(q), Widened(k), Widened(v), mask, wide, D<float>(lse), shape, bf16Operands: q.DType == DType.BF16);
            RoundInto(wide, o);
        }
        else Dispatch(q, new AttentionForwardOp(q, k, v, mask, o, lse, shape));
    }

    private readonly struct AttentionForwardOp(Tensor q, Tensor k, Tensor v, int[]? mask, Tensor o, Tensor lse, AttentionShape shape) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuAttention<T>.Forward(of[q], of[k], of[v], mask, of[o], of[lse], shape);
    }

    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, in AttentionShape shape)
    {
        var mask = Optional<int>(keyMask);
        if (AnyBf16(q, k, v, o))
        {
            // bf16 mixed precision's BF16 operands or output, widened: the arithmetic and the gradients are F32.
            CpuAttention<float>.Backward(Widened(q), Widened(k), Widened(v), mask, Widened(o), D<float>(lse), D<float>(dO),
                Optional<float>(dq), Optional<float>(dk), Optional<float>(dv), shape, bf16Operands: q.DType == DType.BF16);
        }
        else Dispatch(q, new AttentionBackwardOp(q, k, v, mask, o, lse, dO, dq, dk, dv, shape));
    }

    private readonly struct AttentionBackwardOp(Tensor q, Tensor k, Tensor v, int[]? mask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, AttentionShape shape) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuAttention<T>.Backward(of[q], of[k], of[v], mask, of[o], of[lse], of[dO], of.Optional(dq), of.Optional(dk), of.Optional(dv), shape);
    }

    private static bool AnyBf16(params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
        {
            if (t.DType == DType.BF16) return true;
        }
        return false;
    }

    public void EmbeddingForward(Tensor table, Tensor ids, Tensor y, int count, int vocab, int width) =>
        Dispatch(table, new EmbeddingForwardOp(table, D<int>(ids), y, count, vocab, width));

    private readonly struct EmbeddingForwardOp(Tensor table, int[] ids, Tensor y, int count, int vocab, int width) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuEmbedding<T>.Forward(of[table], ids, of[y], count, vocab, width);
    }

    public void EmbeddingBackward(Tensor dy, Tensor ids, Tensor dTable, int count, int vocab, int width) =>
        Dispatch(dy, new EmbeddingBackwardOp(dy, D<int>(ids), dTable, count, vocab, width));

    private readonly struct EmbeddingBackwardOp(Tensor dy, int[] ids, Tensor dTable, int count, int vocab, int width) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuEmbedding<T>.Backward(of[dy], ids, of[dTable], count, vocab, width);
    }

    public void Permute(Tensor x, Tensor y, ReadOnlySpan<int> sourceDims, ReadOnlySpan<int> perm, bool accumulate)
    {
        SameLength(x, y);
        int[] dims = sourceDims.ToArray(), order = perm.ToArray();
        switch (x.DType)
        {
            case DType.F64: CpuPermute<double>.Run(D<double>(x), D<double>(y), dims, order, accumulate); break;
            case DType.I32: CpuPermute<int>.Run(D<int>(x), D<int>(y), dims, order, accumulate); break;
            default: CpuPermute<float>.Run(D<float>(x), D<float>(y), dims, order, accumulate); break;
        }
    }

    public void L2NormalizeForward(Tensor x, Tensor y, Tensor norms, int rows, int cols) => Dispatch(x, new L2NormalizeForwardOp(x, y, norms, rows, cols));

    private readonly struct L2NormalizeForwardOp(Tensor x, Tensor y, Tensor norms, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuL2Normalize<T>.Forward(of[x], of[y], of[norms], rows, cols);
    }

    public void L2NormalizeBackward(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols) =>
        Dispatch(y, new L2NormalizeBackwardOp(y, dy, norms, dx, rows, cols));

    private readonly struct L2NormalizeBackwardOp(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuL2Normalize<T>.Backward(of[y], of[dy], of[norms], of[dx], rows, cols);
    }

    public void CrossEntropyForward(Tensor logits, Tensor targets, Tensor loss, int rows, int cols, bool alongColumns, double weight) =>
        Dispatch(logits, new CrossEntropyForwardOp(logits, D<int>(targets), loss, rows, cols, alongColumns, weight));

    private readonly struct CrossEntropyForwardOp(Tensor logits, int[] targets, Tensor loss, int rows, int cols, bool alongColumns, double weight) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuCrossEntropy<T>.Forward(of[logits], targets, of[loss], rows, cols, alongColumns, T.CreateTruncating(weight));
    }

    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns, double weight) =>
        Dispatch(logits, new CrossEntropyBackwardOp(logits, D<int>(targets), dLoss, dLogits, rows, cols, alongColumns, weight));

    private readonly struct CrossEntropyBackwardOp(Tensor logits, int[] targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns,
        double weight) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuCrossEntropy<T>.Backward(of[logits], targets, of[dLoss], of[dLogits], rows, cols, alongColumns, T.CreateTruncating(weight));
    }

    public void InfoNceForwardBackward(Tensor logits, Tensor loss, Tensor dLogits, int n) => Dispatch(logits, new InfoNceOp(logits, loss, dLogits, n));

    private readonly struct InfoNceOp(Tensor logits, Tensor loss, Tensor dLogits, int n) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuInfoNce<T>.ForwardBackward(of[logits], of[loss], of[dLogits], n);
    }

    public void ExpScaleForward(Tensor x, Tensor logScale, Tensor y, double maxLogScale)
    {
        SameLength(x, y);
        Dispatch(x, new ExpScaleForwardOp(x, logScale, y, maxLogScale));
    }

    private readonly struct ExpScaleForwardOp(Tensor x, Tensor logScale, Tensor y, double maxLogScale) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuExpScale<T>.Forward(of[x], of[logScale], of[y], x.Length, T.CreateTruncating(maxLogScale));
    }

    public void ExpScaleBackward(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale) =>
        Dispatch(x, new ExpScaleBackwardOp(x, logScale, dy, dx, dLogScale, maxLogScale));

    private readonly struct ExpScaleBackwardOp(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuExpScale<T>.Backward(of[x], of[logScale], of[dy], of[dx], of.Optional(dLogScale), x.Length, T.CreateTruncating(maxLogScale));
    }

    public void SumOfSquares(Tensor x, Tensor sumSquares) => Dispatch(x, new SumOfSquaresOp(x, sumSquares));

    private readonly struct SumOfSquaresOp(Tensor x, Tensor sumSquares) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuAdamW<T>.SumOfSquares(of[x], of[sumSquares], x.Length);
    }

    public void ClipByNorm(Tensor x, Tensor sumSquares, double maxNorm)
    {
        double factor = maxNorm / (Math.Sqrt(sumSquares.Item()) + 1e-6);
        if (factor < 1) Scale(x, factor);
    }

    public void AdamW(Tensor parameter, Tensor gradient, Tensor m, Tensor v, in AdamWStep step, Tensor? bf16Copy = null)
    {
        SameLength(parameter, gradient);
        Dispatch(parameter, new AdamWOp(parameter, gradient, m, v, step));
        if (bf16Copy is not null)
        {
            if (bf16Copy.DType != DType.BF16 || parameter.DType != DType.F32)
                throw new ArgumentException($"AdamW: the copy {bf16Copy.Describe()} of {parameter.Describe()} must be BF16 of an F32 parameter.");
            Cast(parameter, bf16Copy);
        }
    }

    private readonly struct AdamWOp(Tensor parameter, Tensor gradient, Tensor m, Tensor v, AdamWStep step) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuAdamW<T>.Update(of[parameter], of[gradient], of[m], of[v], parameter.Length, step);
    }

    public void AdamWMultiTensor(ReadOnlySpan<AdamWTensor> tensors)
    {
        foreach (var t in tensors) AdamW(t.Parameter, t.Gradient, t.M, t.V, t.Step, t.Bf16Copy);
    }

    // ---- the element type ------------------------------------------------------------------------------------------

    /// <summary>An op written once over its element type T; Dispatch picks T.</summary>
    private interface ITypedOp
    {
        void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T>;
    }

    // The one place an op's element type is chosen, from the tensor that leads it: double for F64, else float (BF16 and
    // I32 operands then fail in Operands, naming the op). A struct op is specialised per T and allocates nothing.
    private static void Dispatch<TOp>(Tensor lead, TOp op, [CallerMemberName] string name = "") where TOp : struct, ITypedOp
    {
        if (lead.DType == DType.F64) op.Run(new Operands<double>(name));
        else op.Run(new Operands<float>(name));
    }

    /// <summary>The arrays behind an op's tensors at its element type, checked as they are read (errors name the op).</summary>
    private readonly struct Operands<T>(string op) where T : unmanaged
    {
        public T[] this[Tensor t] => D<T>(t, op);

        public T[]? Optional(Tensor? t) => t is null ? null : D<T>(t, op);
    }

    // The array behind a tensor, checked to hold T (a mixed-dtype call names the op and the tensor).
    private static T[] D<T>(Tensor t, [CallerMemberName] string op = "") where T : unmanaged =>
        t.Storage is CpuStorage<T> s
            ? s.Data
            : throw new ArgumentException(t.Storage is CpuStorage<ushort>
                ? $"{op}: {t.Describe()} is BF16 storage; the CPU backend computes in F32 or F64, so cast it first."
                : $"{op}: {t.Describe()} on {t.Backend.Name} is not {Tensor.HostDType<T>()} on the CPU as the op's other operands are.");

    private static T[]? Optional<T>(Tensor? t, [CallerMemberName] string op = "") where T : unmanaged => t is null ? null : D<T>(t, op);

    private static T[] Array<T>(Storage s) where T : unmanaged =>
        s is CpuStorage<T> cpu ? cpu.Data : throw new ArgumentException($"Storage holds {s.DType} on {s.Backend.Name}, not {typeof(T).Name} on the CPU.");

    private static void SameLength(Tensor a, Tensor b, [CallerMemberName] string op = "")
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"{op}: {a.Describe()} and {b.Describe()} differ in size.");
    }

    private static void CheckGemmExtent(Tensor t, long matrix, long stride, int batch, string which, in GemmShape s)
    {
        long needed = matrix + (batch - 1) * stride;
        if (t.Length < needed)
            throw new ArgumentException($"Gemm: operand {which} {t.Describe()} has {t.Length} elements but {s} needs {needed}.");
    }
}
