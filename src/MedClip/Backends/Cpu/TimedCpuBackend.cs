using System.Diagnostics;
using System.Runtime.CompilerServices;
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

    // Times the call made inside its using block and adds it to the op's totals; the op is the calling member's name
    // unless given (GEMMs by shape, activations by kind).
    private OpTimer Time([CallerMemberName] string op = "", long bytes = 0) => new(this, op, bytes);

    private void Add(string op, long ticks, long bytes)
    {
        lock (_gate)
        {
            var t = _times.GetValueOrDefault(op);
            _times[op] = new OpTime(t.Calls + 1, t.Ticks + ticks, t.Bytes + bytes);
        }
    }

    private readonly struct OpTimer(TimedCpuBackend owner, string op, long bytes) : IDisposable
    {
        private readonly long _start = Stopwatch.GetTimestamp();

        public void Dispose() => owner.Add(op, Stopwatch.GetTimestamp() - _start, bytes);
    }

    public Storage Allocate(DType dtype, long length)
    {
        using (Time("Allocate", length * dtype.SizeInBytes())) return inner.Allocate(dtype, length, owner: this);
    }

    public Storage AllocateUninitialized(DType dtype, long length)
    {
        using (Time("Allocate uninitialized", length * dtype.SizeInBytes())) return inner.Allocate(dtype, length, owner: this, zeroed: false);
    }

    public IDisposable OpenScope() => inner.OpenScope();

    public void CopyFromHost<T>(ReadOnlySpan<T> source, Storage destination) where T : unmanaged
    {
        using (Time()) inner.CopyFromHost(source, destination);
    }

    public void CopyToHost<T>(Storage source, Span<T> destination) where T : unmanaged
    {
        using (Time()) inner.CopyToHost(source, destination);
    }

    public void Fill(Tensor x, double value)
    {
        using (Time()) inner.Fill(x, value);
    }

    public void Cast(Tensor source, Tensor destination)
    {
        using (Time()) inner.Cast(source, destination);
    }

    public void CopyBlocks(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate)
    {
        using (Time()) inner.CopyBlocks(source, sourceOffset, sourceStride, destination, destinationOffset, destinationStride, blockLength, blocks, accumulate);
    }

    public void AddScaled(Tensor a, double alpha, Tensor b, double beta, Tensor y)
    {
        using (Time()) inner.AddScaled(a, alpha, b, beta, y);
    }

    public void Axpy(double alpha, Tensor x, Tensor y)
    {
        using (Time()) inner.Axpy(alpha, x, y);
    }

    public void Scale(Tensor x, double alpha)
    {
        using (Time()) inner.Scale(x, alpha);
    }

    public void ClipByNorm(Tensor x, Tensor sumSquares, double maxNorm)
    {
        using (Time()) inner.ClipByNorm(x, sumSquares, maxNorm);
    }

    public void ScaleByTensor(Tensor x, Tensor factor)
    {
        using (Time()) inner.ScaleByTensor(x, factor);
    }

    public void Gemm(Tensor a, Tensor b, Tensor c, in GemmShape shape)
    {
        using (Time(GemmKey(shape))) inner.Gemm(a, b, c, shape);
    }

    /// <summary>"Gemm NT 2080x512x128": transposes of A and B, M x N x K, then " batch B" for B products and " +=" for beta != 0.</summary>
    public static string GemmKey(in GemmShape s) =>
        $"Gemm {(s.TransA ? 'T' : 'N')}{(s.TransB ? 'T' : 'N')} {s.M}x{s.N}x{s.K}{(s.Batch > 1 ? $" batch {s.Batch}" : "")}{(s.Beta != 0 ? " +=" : "")}";

    // bf16's rounding output keyed apart, as the profile has always shown it.
    public void AddBias(Tensor x, Tensor bias, int rows, int cols, Tensor? y = null)
    {
        using (Time(y is null ? "AddBias" : "AddBiasToBf16")) inner.AddBias(x, bias, rows, cols, y);
    }

    public void AddBiasResidual(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols)
    {
        using (Time()) inner.AddBiasResidual(x, bias, residual, y, rows, cols);
    }

    public void BiasBackward(Tensor dy, Tensor dBias, int rows, int cols)
    {
        using (Time()) inner.BiasBackward(dy, dBias, rows, cols);
    }

    public void BiasBackwardEpilogue(Tensor dy, Tensor dBias, Tensor? dResidual, Tensor? dyBf16, int rows, int cols)
    {
        using (Time()) inner.BiasBackwardEpilogue(dy, dBias, dResidual, dyBf16, rows, cols);
    }

    public void LayerNormForward(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, double eps)
    {
        using (Time()) inner.LayerNormForward(x, gamma, beta, y, mean, rstd, rows, cols, eps);
    }

    public void LayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma, Tensor dBeta,
        int rows, int cols)
    {
        using (Time()) inner.LayerNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, rows, cols);
    }

    public void AddLayerNormForward(Tensor a, Tensor b, Tensor? sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
        int rows, int cols, double eps)
    {
        using (Time()) inner.AddLayerNormForward(a, b, sum, gamma, beta, y, mean, rstd, rows, cols, eps);
    }

    public void AddLayerNormBackward(Tensor dy, Tensor a, Tensor b, Tensor gamma, Tensor mean, Tensor rstd, Tensor? da, Tensor? db,
        Tensor dGamma, Tensor dBeta, int rows, int cols)
    {
        using (Time()) inner.AddLayerNormBackward(dy, a, b, gamma, mean, rstd, da, db, dGamma, dBeta, rows, cols);
    }

    public void ActivationForward(Activation kind, Tensor x, Tensor y)
    {
        using (Time($"ActivationForward {kind}")) inner.ActivationForward(kind, x, y);
    }

    public void ActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx)
    {
        using (Time($"ActivationBackward {kind}")) inner.ActivationBackward(kind, x, dy, dx);
    }

    public void BiasActivationForward(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols, Tensor? pre = null)
    {
        using (Time($"BiasActivationForward{(pre is null ? "" : "Bf16")} {kind}")) inner.BiasActivationForward(kind, x, bias, y, rows, cols, pre);
    }

    public void BiasActivationBackward(Activation kind, Tensor kept, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        using (Time($"BiasActivationBackward{(kept.DType == DType.BF16 ? "Bf16" : "")} {kind}")) inner.BiasActivationBackward(kind, kept, dy, dx, dBias, rows, cols);
    }

    public void SoftmaxForward(Tensor x, Tensor? keyMask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal)
    {
        using (Time()) inner.SoftmaxForward(x, keyMask, y, batch, heads, queries, keys, scale, causal);
    }

    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale)
    {
        using (Time()) inner.SoftmaxBackward(y, dy, dx, rows, keys, scale);
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, in AttentionShape shape)
    {
        using (Time()) inner.AttentionForward(q, k, v, keyMask, o, lse, shape);
    }

    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, in AttentionShape shape)
    {
        using (Time()) inner.AttentionBackward(q, k, v, keyMask, o, lse, dO, dq, dk, dv, shape);
    }

    public void EmbeddingForward(Tensor table, Tensor ids, Tensor y, int count, int vocab, int width)
    {
        using (Time()) inner.EmbeddingForward(table, ids, y, count, vocab, width);
    }

    public void EmbeddingBackward(Tensor dy, Tensor ids, Tensor dTable, int count, int vocab, int width)
    {
        using (Time()) inner.EmbeddingBackward(dy, ids, dTable, count, vocab, width);
    }

    public void Permute(Tensor x, Tensor y, ReadOnlySpan<int> sourceDims, ReadOnlySpan<int> perm, bool accumulate)
    {
        using (Time(accumulate ? "Permute +=" : "Permute")) inner.Permute(x, y, sourceDims, perm, accumulate);
    }

    public void L2NormalizeForward(Tensor x, Tensor y, Tensor norms, int rows, int cols)
    {
        using (Time()) inner.L2NormalizeForward(x, y, norms, rows, cols);
    }

    public void L2NormalizeBackward(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols)
    {
        using (Time()) inner.L2NormalizeBackward(y, dy, norms, dx, rows, cols);
    }

    public void CrossEntropyForward(Tensor logits, Tensor targets, Tensor loss, int rows, int cols, bool alongColumns, double weight)
    {
        using (Time()) inner.CrossEntropyForward(logits, targets, loss, rows, cols, alongColumns, weight);
    }

    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns,
        double weight)
    {
        using (Time()) inner.CrossEntropyBackward(logits, targets, dLoss, dLogits, rows, cols, alongColumns, weight);
    }

    public void InfoNceForwardBackward(Tensor logits, Tensor loss, Tensor dLogits, int n)
    {
        using (Time()) inner.InfoNceForwardBackward(logits, loss, dLogits, n);
    }

    public void ExpScaleForward(Tensor x, Tensor logScale, Tensor y, double maxLogScale)
    {
        using (Time()) inner.ExpScaleForward(x, logScale, y, maxLogScale);
    }

    public void ExpScaleBackward(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale)
    {
        using (Time()) inner.ExpScaleBackward(x, logScale, dy, dx, dLogScale, maxLogScale);
    }

    public void SumOfSquares(Tensor x, Tensor sumSquares)
    {
        using (Time()) inner.SumOfSquares(x, sumSquares);
    }

    public void AdamW(Tensor parameter, Tensor gradient, Tensor m, Tensor v, in AdamWStep step, Tensor? bf16Copy = null)
    {
        using (Time()) inner.AdamW(parameter, gradient, m, v, step, bf16Copy);
    }

    public void AdamWMultiTensor(ReadOnlySpan<AdamWTensor> tensors)
    {
        using (Time()) inner.AdamWMultiTensor(tensors);
    }

    public void AccumulateLoss(Tensor loss, Tensor ledger, int accumulationSteps, bool first)
    {
        using (Time()) inner.AccumulateLoss(loss, ledger, accumulationSteps, first);
    }

    public void CloseStep(Tensor sumSquares, Tensor ledger, int recordCapacity)
    {
        using (Time()) inner.CloseStep(sumSquares, ledger, recordCapacity);
    }

    public void AdamWScheduled(ReadOnlySpan<AdamWParameter> parameters, double beta1, double beta2, double eps, Tensor ledger, Tensor schedule)
    {
        using (Time()) inner.AdamWScheduled(parameters, beta1, beta2, eps, ledger, schedule);
    }
}

/// <summary>One op's totals: calls, wall time in <see cref="Stopwatch"/> ticks, and bytes (for allocations).</summary>
public readonly record struct OpTime(long Calls, long Ticks, long Bytes)
{
    public double Milliseconds => Ticks * 1000.0 / Stopwatch.Frequency;
}
