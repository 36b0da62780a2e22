using System.Diagnostics;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>
/// A <see cref="CpuBackend"/> that times every call by op name: each method forwards to the inner backend and adds its
/// wall time to the op's total (GEMMs keyed by shape, activations by kind). The CPU computes synchronously, so a call's
/// time is the op's time. Storages are allocated as this backend's, so ops on their tensors come back through it.
/// </summary>
public sealed class TimedCpuBackend(CpuBackend inner) : IBackend
{
    private readonly Dictionary<string, OpTime> _times = [];
    private readonly Lock _gate = new();

    public string Name => inner.Name;

    public IReadOnlyList<int>? FusedAttentionHeadDims => inner.FusedAttentionHeadDims;

    /// <summary>The totals since the last <see cref="Reset"/>, by op.</summary>
    public IReadOnlyDictionary<string, OpTime> Times()
    {
        lock (_gate) return new Dictionary<string, OpTime>(_times);
    }

    public void Reset()
    {
        lock (_gate) _times.Clear();
    }

    private void Add(string op, long start, long bytes = 0)
    {
        long ticks = Stopwatch.GetTimestamp() - start;
        lock (_gate)
        {
            var t = _times.GetValueOrDefault(op);
            _times[op] = new OpTime(t.Calls + 1, t.Ticks + ticks, t.Bytes + bytes);
        }
    }

    public Storage Allocate(DType dtype, long length)
    {
        long start = Stopwatch.GetTimestamp();
        var storage = inner.Allocate(dtype, length, owner: this);
        Add("Allocate", start, length * dtype.SizeInBytes());
        return storage;
    }

    public Storage AllocateUninitialized(DType dtype, long length)
    {
        long start = Stopwatch.GetTimestamp();
        var storage = inner.Allocate(dtype, length, owner: this, zeroed: false);
        Add("Allocate uninitialized", start, length * dtype.SizeInBytes());
        return storage;
    }

    public IDisposable OpenScope() => inner.OpenScope();

    public void CopyFromHost<T>(ReadOnlySpan<T> source, Storage destination) where T : unmanaged
    {
        long start = Stopwatch.GetTimestamp();
        inner.CopyFromHost(source, destination);
        Add("CopyFromHost", start);
    }

    public void CopyToHost<T>(Storage source, Span<T> destination) where T : unmanaged
    {
        long start = Stopwatch.GetTimestamp();
        inner.CopyToHost(source, destination);
        Add("CopyToHost", start);
    }

    public void Fill(Tensor x, double value)
    {
        long start = Stopwatch.GetTimestamp();
        inner.Fill(x, value);
        Add("Fill", start);
    }

    public void Cast(Tensor source, Tensor destination)
    {
        long start = Stopwatch.GetTimestamp();
        inner.Cast(source, destination);
        Add("Cast", start);
    }

    public void CopyBlocks(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate)
    {
        long start = Stopwatch.GetTimestamp();
        inner.CopyBlocks(source, sourceOffset, sourceStride, destination, destinationOffset, destinationStride, blockLength, blocks, accumulate);
        Add("CopyBlocks", start);
    }

    public void AddScaled(Tensor a, double alpha, Tensor b, double beta, Tensor y)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AddScaled(a, alpha, b, beta, y);
        Add("AddScaled", start);
    }

    public void Axpy(double alpha, Tensor x, Tensor y)
    {
        long start = Stopwatch.GetTimestamp();
        inner.Axpy(alpha, x, y);
        Add("Axpy", start);
    }

    public void Scale(Tensor x, double alpha)
    {
        long start = Stopwatch.GetTimestamp();
        inner.Scale(x, alpha);
        Add("Scale", start);
    }

    public void ClipByNorm(Tensor x, Tensor sumSquares, double maxNorm)
    {
        long start = Stopwatch.GetTimestamp();
        inner.ClipByNorm(x, sumSquares, maxNorm);
        Add("ClipByNorm", start);
    }

    public void ScaleByTensor(Tensor x, Tensor factor)
    {
        long start = Stopwatch.GetTimestamp();
        inner.ScaleByTensor(x, factor);
        Add("ScaleByTensor", start);
    }

    public void Gemm(Tensor a, Tensor b, Tensor c, in GemmShape shape)
    {
        long start = Stopwatch.GetTimestamp();
        inner.Gemm(a, b, c, shape);
        Add(GemmKey(shape), start);
    }

    /// <summary>"Gemm NT 2080x512x128": transposes of A and B, M x N x K, then " batch B" for B products and " +=" for beta != 0.</summary>
    public static string GemmKey(in GemmShape s) =>
        $"Gemm {(s.TransA ? 'T' : 'N')}{(s.TransB ? 'T' : 'N')} {s.M}x{s.N}x{s.K}{(s.Batch > 1 ? $" batch {s.Batch}" : "")}{(s.Beta != 0 ? " +=" : "")}";

    public void AddBias(Tensor x, Tensor bias, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AddBias(x, bias, rows, cols);
        Add("AddBias", start);
    }

    public void AddBiasResidual(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AddBiasResidual(x, bias, residual, y, rows, cols);
        Add("AddBiasResidual", start);
    }

    public void AddBiasToBf16(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AddBiasToBf16(x, bias, y, rows, cols);
        Add("AddBiasToBf16", start);
    }

    public void BiasBackward(Tensor dy, Tensor dBias, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.BiasBackward(dy, dBias, rows, cols);
        Add("BiasBackward", start);
    }

    public void BiasBackwardEpilogue(Tensor dy, Tensor dBias, Tensor? dResidual, Tensor? dyBf16, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.BiasBackwardEpilogue(dy, dBias, dResidual, dyBf16, rows, cols);
        Add("BiasBackwardEpilogue", start);
    }

    public void LayerNormForward(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, double eps)
    {
        long start = Stopwatch.GetTimestamp();
        inner.LayerNormForward(x, gamma, beta, y, mean, rstd, rows, cols, eps);
        Add("LayerNormForward", start);
    }

    public void LayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma, Tensor dBeta,
        int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.LayerNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, rows, cols);
        Add("LayerNormBackward", start);
    }

    public void AddLayerNormForward(Tensor a, Tensor b, Tensor? sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
        int rows, int cols, double eps)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AddLayerNormForward(a, b, sum, gamma, beta, y, mean, rstd, rows, cols, eps);
        Add("AddLayerNormForward", start);
    }

    public void AddLayerNormBackward(Tensor dy, Tensor a, Tensor b, Tensor gamma, Tensor mean, Tensor rstd, Tensor? da, Tensor? db,
        Tensor dGamma, Tensor dBeta, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AddLayerNormBackward(dy, a, b, gamma, mean, rstd, da, db, dGamma, dBeta, rows, cols);
        Add("AddLayerNormBackward", start);
    }

    public void ActivationForward(Activation kind, Tensor x, Tensor y)
    {
        long start = Stopwatch.GetTimestamp();
        inner.ActivationForward(kind, x, y);
        Add($"ActivationForward {kind}", start);
    }

    public void ActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx)
    {
        long start = Stopwatch.GetTimestamp();
        inner.ActivationBackward(kind, x, dy, dx);
        Add($"ActivationBackward {kind}", start);
    }

    public void BiasActivationForward(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.BiasActivationForward(kind, x, bias, y, rows, cols);
        Add($"BiasActivationForward {kind}", start);
    }

    public void BiasActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.BiasActivationBackward(kind, x, dy, dx, dBias, rows, cols);
        Add($"BiasActivationBackward {kind}", start);
    }

    public void BiasActivationForwardBf16(Activation kind, Tensor x, Tensor bias, Tensor pre, Tensor y, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.BiasActivationForwardBf16(kind, x, bias, pre, y, rows, cols);
        Add($"BiasActivationForwardBf16 {kind}", start);
    }

    public void BiasActivationBackwardBf16(Activation kind, Tensor pre, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.BiasActivationBackwardBf16(kind, pre, dy, dx, dBias, rows, cols);
        Add($"BiasActivationBackwardBf16 {kind}", start);
    }

    public void SoftmaxForward(Tensor x, Tensor? keyMask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal)
    {
        long start = Stopwatch.GetTimestamp();
        inner.SoftmaxForward(x, keyMask, y, batch, heads, queries, keys, scale, causal);
        Add("SoftmaxForward", start);
    }

    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale)
    {
        long start = Stopwatch.GetTimestamp();
        inner.SoftmaxBackward(y, dy, dx, rows, keys, scale);
        Add("SoftmaxBackward", start);
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, in AttentionShape shape)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AttentionForward(q, k, v, keyMask, o, lse, shape);
        Add("AttentionForward", start);
    }

    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, in AttentionShape shape)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AttentionBackward(q, k, v, keyMask, o, lse, dO, dq, dk, dv, shape);
        Add("AttentionBackward", start);
    }

    public void EmbeddingForward(Tensor table, Tensor ids, Tensor y, int count, int vocab, int width)
    {
        long start = Stopwatch.GetTimestamp();
        inner.EmbeddingForward(table, ids, y, count, vocab, width);
        Add("EmbeddingForward", start);
    }

    public void EmbeddingBackward(Tensor dy, Tensor ids, Tensor dTable, int count, int vocab, int width)
    {
        long start = Stopwatch.GetTimestamp();
        inner.EmbeddingBackward(dy, ids, dTable, count, vocab, width);
        Add("EmbeddingBackward", start);
    }

    public void Permute(Tensor x, Tensor y, ReadOnlySpan<int> sourceDims, ReadOnlySpan<int> perm, bool accumulate)
    {
        long start = Stopwatch.GetTimestamp();
        inner.Permute(x, y, sourceDims, perm, accumulate);
        Add(accumulate ? "Permute +=" : "Permute", start);
    }

    public void L2NormalizeForward(Tensor x, Tensor y, Tensor norms, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.L2NormalizeForward(x, y, norms, rows, cols);
        Add("L2NormalizeForward", start);
    }

    public void L2NormalizeBackward(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols)
    {
        long start = Stopwatch.GetTimestamp();
        inner.L2NormalizeBackward(y, dy, norms, dx, rows, cols);
        Add("L2NormalizeBackward", start);
    }

    public void CrossEntropyForward(Tensor logits, Tensor targets, Tensor loss, int rows, int cols, bool alongColumns, double weight)
    {
        long start = Stopwatch.GetTimestamp();
        inner.CrossEntropyForward(logits, targets, loss, rows, cols, alongColumns, weight);
        Add("CrossEntropyForward", start);
    }

    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns,
        double weight)
    {
        long start = Stopwatch.GetTimestamp();
        inner.CrossEntropyBackward(logits, targets, dLoss, dLogits, rows, cols, alongColumns, weight);
        Add("CrossEntropyBackward", start);
    }

    public void InfoNceForwardBackward(Tensor logits, Tensor loss, Tensor dLogits, int n)
    {
        long start = Stopwatch.GetTimestamp();
        inner.InfoNceForwardBackward(logits, loss, dLogits, n);
        Add("InfoNceForwardBackward", start);
    }

    public void ExpScaleForward(Tensor x, Tensor logScale, Tensor y, double maxLogScale)
    {
        long start = Stopwatch.GetTimestamp();
        inner.ExpScaleForward(x, logScale, y, maxLogScale);
        Add("ExpScaleForward", start);
    }

    public void ExpScaleBackward(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale)
    {
        long start = Stopwatch.GetTimestamp();
        inner.ExpScaleBackward(x, logScale, dy, dx, dLogScale, maxLogScale);
        Add("ExpScaleBackward", start);
    }

    public void SumOfSquares(Tensor x, Tensor sumSquares)
    {
        long start = Stopwatch.GetTimestamp();
        inner.SumOfSquares(x, sumSquares);
        Add("SumOfSquares", start);
    }

    public void AdamW(Tensor parameter, Tensor gradient, Tensor m, Tensor v, in AdamWStep step, Tensor? bf16Copy = null)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AdamW(parameter, gradient, m, v, step, bf16Copy);
        Add("AdamW", start);
    }

    public void AdamWMultiTensor(ReadOnlySpan<AdamWTensor> tensors)
    {
        long start = Stopwatch.GetTimestamp();
        inner.AdamWMultiTensor(tensors);
        Add("AdamWMultiTensor", start);
    }
}

/// <summary>One op's totals: calls, wall time in <see cref="Stopwatch"/> ticks, and bytes (for allocations).</summary>
public readonly record struct OpTime(long Calls, long Ticks, long Bytes)
{
    public double Milliseconds => Ticks * 1000.0 / Stopwatch.Frequency;
}
