using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>
/// The managed reference backend. Each op writes its kernel call once, in a local Run<T>, and picks T from the dtype
/// (double for F64, else float) in one line: the kernels are generic over float and double, so the
/// same code serves training (F32) and gradient checks (F64). BF16 is a storage format here (cast it to F32 to compute),
/// except as GEMM operands: bf16 mixed precision is emulated by an F32 GEMM of the exactly widened BF16 values.
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
        long destinationStride, int blockLength, int blocks, bool accumulate)
    {
        if (Is64(source)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.CopyBlocks(D<T>(source), sourceOffset, sourceStride, D<T>(destination), destinationOffset, destinationStride, blockLength, blocks, accumulate);
    }

    public void AddScaled(Tensor a, double alpha, Tensor b, double beta, Tensor y)
    {
        SameLength(a, b);
        SameLength(a, y);
        if (Is64(a)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.AddScaled(D<T>(a), T.CreateTruncating(alpha), D<T>(b), T.CreateTruncating(beta), D<T>(y), a.Length);
    }

    public void Axpy(double alpha, Tensor x, Tensor y)
    {
        SameLength(x, y);
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.Axpy(T.CreateTruncating(alpha), D<T>(x), D<T>(y), x.Length);
    }

    public void Scale(Tensor x, double alpha)
    {
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.Scale(D<T>(x), T.CreateTruncating(alpha), x.Length);
    }

    public void ScaleByTensor(Tensor x, Tensor factor) => Scale(x, factor.Item());

    public void Gemm(Tensor a, Tensor b, Tensor c, in GemmShape s)
    {
        CheckGemmExtent(a, s.TransA ? (long)s.K * s.M : (long)s.M * s.K, s.StrideA, s.Batch, "A", s);
        CheckGemmExtent(b, s.TransB ? (long)s.N * s.K : (long)s.K * s.N, s.StrideB, s.Batch, "B", s);
        CheckGemmExtent(c, (long)s.M * s.N, s.StrideC, s.Batch, "C", s);
        int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
        if (a.DType == DType.BF16 || b.DType == DType.BF16)
        {
            // bf16 emulation: the operands are exact in float, so an F32 GEMM of their widened values is an FP32
            // accumulation of the BF16 products.
            if (a.DType != b.DType || c.DType != DType.F32)
                throw new NotSupportedException($"Gemm: the CPU backend multiplies BF16 A and B into an F32 C, not {a.Describe()} @ {b.Describe()} into {c.Describe()}.");
            _gemm.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, (float)s.Alpha, Widen(a), 0, lda, s.StrideA, Widen(b), 0, ldb, s.StrideB, (float)s.Beta, D<float>(c), 0, s.N, s.StrideC, s.Batch);
        }
        else if (Is64(a))
            _gemm.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, s.Alpha, D<double>(a), 0, lda, s.StrideA, D<double>(b), 0, ldb, s.StrideB, s.Beta, D<double>(c), 0, s.N, s.StrideC, s.Batch);
        else
            _gemm.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, (float)s.Alpha, D<float>(a), 0, lda, s.StrideA, D<float>(b), 0, ldb, s.StrideB, (float)s.Beta, D<float>(c), 0, s.N, s.StrideC, s.Batch);
    }

    public void AddBias(Tensor x, Tensor bias, int rows, int cols)
    {
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.AddBias(D<T>(x), D<T>(bias), rows, cols);
    }

    public void AddBiasResidual(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols)
    {
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.AddBiasResidual(D<T>(x), D<T>(bias), D<T>(residual), D<T>(y), rows, cols);
    }

    public void AddBiasToBf16(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        if (x.DType != DType.F32 || bias.DType != DType.F32 || y.DType != DType.BF16)
            throw new ArgumentException($"AddBiasToBf16: F32 x and bias into a BF16 y, not {x.Describe()}, {bias.Describe()} and {y.Describe()}.");
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

    public void BiasBackward(Tensor dy, Tensor dBias, int rows, int cols)
    {
        if (Is64(dy)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.BiasBackward(D<T>(dy), D<T>(dBias), rows, cols);
    }

    public void LayerNormForward(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, double eps)
    {
        if (y.DType == DType.BF16)
        {
            var wide = new float[y.Length];
            CpuLayerNorm<float>.Forward(D<float>(x), D<float>(gamma), D<float>(beta), wide, D<float>(mean), D<float>(rstd), rows, cols, (float)eps);
            RoundInto(wide, y);
        }
        else if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuLayerNorm<T>.Forward(D<T>(x), D<T>(gamma), D<T>(beta), D<T>(y), D<T>(mean), D<T>(rstd), rows, cols, T.CreateTruncating(eps));
    }

    public void LayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma, Tensor dBeta, int rows, int cols)
    {
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuLayerNorm<T>.Backward(D<T>(dy), D<T>(x), D<T>(gamma), D<T>(mean), D<T>(rstd), D<T>(dx), D<T>(dGamma), D<T>(dBeta), rows, cols);
    }

    public void AddLayerNormForward(Tensor a, Tensor b, Tensor? sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
        int rows, int cols, double eps)
    {
        if (y.DType == DType.BF16)
        {
            if (sum is null) throw new ArgumentException("AddLayerNormForward: a BF16 output needs the sum kept (it cannot hold the F32 sum).");
            var wide = new float[y.Length];
            CpuLayerNorm<float>.AddForward(D<float>(a), D<float>(b), D<float>(sum), D<float>(gamma), D<float>(beta), wide, D<float>(mean), D<float>(rstd), rows, cols, (float)eps);
            RoundInto(wide, y);
        }
        else if (Is64(a)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuLayerNorm<T>.AddForward(D<T>(a), D<T>(b), Optional<T>(sum), D<T>(gamma), D<T>(beta), D<T>(y), D<T>(mean), D<T>(rstd), rows, cols, T.CreateTruncating(eps));
    }

    public void AddLayerNormBackward(Tensor dy, Tensor a, Tensor b, Tensor gamma, Tensor mean, Tensor rstd, Tensor? da, Tensor? db,
        Tensor dGamma, Tensor dBeta, int rows, int cols)
    {
        if (Is64(a)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuLayerNorm<T>.AddBackward(D<T>(dy), D<T>(a), D<T>(b), D<T>(gamma), D<T>(mean), D<T>(rstd), Optional<T>(da), Optional<T>(db), D<T>(dGamma), D<T>(dBeta), rows, cols);
    }

    public void ActivationForward(Activation kind, Tensor x, Tensor y)
    {
        SameLength(x, y);
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuActivations<T>.Forward(kind, D<T>(x), D<T>(y), x.Length);
    }

    public void ActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuActivations<T>.Backward(kind, D<T>(x), D<T>(dy), D<T>(dx), x.Length);
    }

    public void BiasActivationForward(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        SameLength(x, y);
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuActivations<T>.BiasForward(kind, D<T>(x), D<T>(bias), D<T>(y), rows, cols);
    }

    public void BiasActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuActivations<T>.BiasBackward(kind, D<T>(x), D<T>(dy), D<T>(dx), D<T>(dBias), rows, cols);
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

    // An F32 tensor's values, or a BF16 one's widened to F32 (bf16 mixed precision's BF16 activations).
    private static float[] Widened(Tensor t)
    {
        if (t.DType != DType.BF16) return D<float>(t);
        var wide = new float[t.Length];
        WidenInto(D<ushort>(t), wide);
        return wide;
    }

    public void BiasActivationForwardBf16(Activation kind, Tensor x, Tensor bias, Tensor pre, Tensor y, int rows, int cols)
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

    public void BiasActivationBackwardBf16(Activation kind, Tensor pre, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        var g = new float[(long)rows * cols];
        CpuActivations<float>.BiasBackward(kind, Widened(pre), D<float>(dy), g, D<float>(dBias), rows, cols);
        RoundInto(g, dx);
    }

    public void SoftmaxForward(Tensor x, Tensor? keyMask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal)
    {
        var mask = keyMask is null ? null : D<int>(keyMask);
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuSoftmax<T>.Forward(D<T>(x), mask, D<T>(y), batch, heads, queries, keys, T.CreateTruncating(scale), causal);
    }

    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale)
    {
        if (Is64(y)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuSoftmax<T>.Backward(D<T>(y), D<T>(dy), D<T>(dx), rows, keys, T.CreateTruncating(scale));
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, in AttentionShape shape)
    {
        var mask = Optional<int>(keyMask);
        if (Is64(q)) CpuAttention<double>.Forward(D<double>(q), D<double>(k), D<double>(v), mask, D<double>(o), D<double>(lse), shape);
        else if (o.DType == DType.BF16)
        {
            // bf16 mixed precision's BF16 output (of F32 or BF16 inputs): computed in F32, then rounded.
            var wide = new float[o.Length];
            CpuAttention<float>.Forward(Widened(q), Widened(k), Widened(v), mask, wide, D<float>(lse), shape, bf16Operands: q.DType == DType.BF16);
            RoundInto(wide, o);
        }
        else CpuAttention<float>.Forward(D<float>(q), D<float>(k), D<float>(v), mask, D<float>(o), D<float>(lse), shape);
    }

    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, in AttentionShape shape)
    {
        var mask = Optional<int>(keyMask);
        if (Is64(q))
        {
            CpuAttention<double>.Backward(D<double>(q), D<double>(k), D<double>(v), mask, D<double>(o), D<double>(lse), D<double>(dO),
                Optional<double>(dq), Optional<double>(dk), Optional<double>(dv), shape);
        }
        else
        {
            CpuAttention<float>.Backward(Widened(q), Widened(k), Widened(v), mask, Widened(o), D<float>(lse), D<float>(dO),
                Optional<float>(dq), Optional<float>(dk), Optional<float>(dv), shape, bf16Operands: q.DType == DType.BF16);
        }
    }

    public void EmbeddingForward(Tensor table, Tensor ids, Tensor y, int count, int vocab, int width)
    {
        if (Is64(table)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuEmbedding<T>.Forward(D<T>(table), D<int>(ids), D<T>(y), count, vocab, width);
    }

    public void EmbeddingBackward(Tensor dy, Tensor ids, Tensor dTable, int count, int vocab, int width)
    {
        if (Is64(dy)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuEmbedding<T>.Backward(D<T>(dy), D<int>(ids), D<T>(dTable), count, vocab, width);
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

    public void L2NormalizeForward(Tensor x, Tensor y, Tensor norms, int rows, int cols)
    {
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuL2Normalize<T>.Forward(D<T>(x), D<T>(y), D<T>(norms), rows, cols);
    }

    public void L2NormalizeBackward(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols)
    {
        if (Is64(y)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuL2Normalize<T>.Backward(D<T>(y), D<T>(dy), D<T>(norms), D<T>(dx), rows, cols);
    }

    public void CrossEntropyForward(Tensor logits, Tensor targets, Tensor loss, int rows, int cols, bool alongColumns, double weight)
    {
        if (Is64(logits)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuCrossEntropy<T>.Forward(D<T>(logits), D<int>(targets), D<T>(loss), rows, cols, alongColumns, T.CreateTruncating(weight));
    }

    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns, double weight)
    {
        if (Is64(logits)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuCrossEntropy<T>.Backward(D<T>(logits), D<int>(targets), D<T>(dLoss), D<T>(dLogits), rows, cols, alongColumns, T.CreateTruncating(weight));
    }

    public void InfoNceForwardBackward(Tensor logits, Tensor loss, Tensor dLogits, int n)
    {
        if (Is64(logits)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuInfoNce<T>.ForwardBackward(D<T>(logits), D<T>(loss), D<T>(dLogits), n);
    }

    public void ExpScaleForward(Tensor x, Tensor logScale, Tensor y, double maxLogScale)
    {
        SameLength(x, y);
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuExpScale<T>.Forward(D<T>(x), D<T>(logScale), D<T>(y), x.Length, T.CreateTruncating(maxLogScale));
    }

    public void ExpScaleBackward(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale)
    {
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuExpScale<T>.Backward(D<T>(x), D<T>(logScale), D<T>(dy), D<T>(dx), dLogScale is null ? null : D<T>(dLogScale), x.Length, T.CreateTruncating(maxLogScale));
    }

    public void SumOfSquares(Tensor x, Tensor sumSquares)
    {
        if (Is64(x)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuAdamW<T>.SumOfSquares(D<T>(x), D<T>(sumSquares), x.Length);
    }

    public void ClipByNorm(Tensor x, Tensor sumSquares, double maxNorm)
    {
        double factor = maxNorm / (Math.Sqrt(sumSquares.Item()) + 1e-6);
        if (factor < 1) Scale(x, factor);
    }

    public void AdamW(Tensor parameter, Tensor gradient, Tensor m, Tensor v, in AdamWStep step, Tensor? bf16Copy = null)
    {
        SameLength(parameter, gradient);
        AdamWStep hyper = step; // a local function cannot capture an in parameter
        if (Is64(parameter)) Run<double>(); else Run<float>();
        void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => CpuAdamW<T>.Update(D<T>(parameter), D<T>(gradient), D<T>(m), D<T>(v), parameter.Length, hyper);
        if (bf16Copy is not null)
        {
            if (bf16Copy.DType != DType.BF16 || parameter.DType != DType.F32)
                throw new ArgumentException($"AdamW: the copy {bf16Copy.Describe()} of {parameter.Describe()} must be BF16 of an F32 parameter.");
            Cast(parameter, bf16Copy);
        }
    }

    public void AdamWMultiTensor(ReadOnlySpan<AdamWTensor> tensors)
    {
        foreach (var t in tensors) AdamW(t.Parameter, t.Gradient, t.M, t.V, t.Step, t.Bf16Copy);
    }

    // The float values of a BF16 tensor (exact: a bf16 is the top half of a float).
    private static float[] Widen(Tensor t)
    {
        var bits = D<ushort>(t);
        var wide = new float[t.Length];
        CpuParallel.ForElements(t.Length, (s, e) =>
        {
            for (int i = s; i < e; i++) wide[i] = BFloat16.ToSingle(bits[i]);
        });
        return wide;
    }

    private static bool Is64(Tensor t) => t.DType == DType.F64;

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
