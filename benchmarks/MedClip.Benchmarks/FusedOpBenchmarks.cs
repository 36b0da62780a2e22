using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Tensors;

namespace MedClip.Benchmarks;

/// <summary>
/// The fused ops against the unfused sequences they replace, on any backend, at the base preset's shapes: a ViT-B/16
/// batch of 256 (256 x 197 token rows), the MLP's first layer (3,072 wide, erf GELU) for bias + activation and the
/// residual stream (768 wide) for add + layer norm (its methods in LayerNormBenchmarks.cs). Every method runs one
/// forward or backward of one layer; the benchmarks decide how to time it (CPU below; CUDA in CudaKernelBenchmarks.cs,
/// run on a device with <c>MedClip.Benchmarks cuda --filter '*Fused*'</c>).
/// </summary>
public sealed partial class FusedOpWorkload
{
    public const int Rows = 256 * 197, Width = 768, Intermediate = 3072;
    private const Activation Kind = Activation.GeluErf;

    private readonly IBackend _backend;
    private readonly int _cols;
    private readonly Tensor _x, _y, _dy, _dx, _bias, _dBias;
    private readonly Tensor? _b, _sum, _dSum, _db, _gamma, _beta, _dGamma, _dBeta, _mean, _rstd;
    private Tensor? _pre16, _y16, _dx16;

    private FusedOpWorkload(IBackend backend, bool layerNorm)
    {
        _backend = backend;
        _cols = layerNorm ? Width : Intermediate;
        int seed = 0;
        // The values only need to be realistic in size (no code path here depends on them), so a block of 65,536 random
        // values repeats across the tensor and setting up 155 M elements takes a moment, not seconds.
        Tensor Random(int n, double scale = 1)
        {
            var rng = new Random(++seed);
            var block = new float[Math.Min(n, 1 << 16)];
            for (int i = 0; i < block.Length; i++) block[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
            var values = new float[n];
            for (int i = 0; i < n; i += block.Length) block.AsSpan(0, Math.Min(block.Length, n - i)).CopyTo(values.AsSpan(i));
            return Tensor.FromArray(backend, [n], values);
        }
        int elements = Rows * _cols;
        (_x, _y, _dy, _dx) = (Random(elements, 3), Tensor.Zeros(backend, [elements]), Random(elements), Tensor.Zeros(backend, [elements]));
        (_bias, _dBias) = (Random(_cols, 1e-3), Tensor.Zeros(backend, [_cols]));
        if (!layerNorm) return;
        (_b, _sum, _dSum, _db) = (Random(elements), Tensor.Zeros(backend, [elements]), Tensor.Zeros(backend, [elements]), Tensor.Zeros(backend, [elements]));
        (_gamma, _beta, _dGamma, _dBeta) = (Random(_cols), Random(_cols), Tensor.Zeros(backend, [_cols]), Tensor.Zeros(backend, [_cols]));
        (_mean, _rstd) = (Tensor.Zeros(backend, [Rows]), Tensor.Zeros(backend, [Rows]));
        backend.AddLayerNormForward(_x, _b, _sum, _gamma, _beta, _y, _mean, _rstd, Rows, _cols, 1e-12);
    }

    /// <summary>x [rows, 3072] (the GEMM's output), bias, y, dy, dx.</summary>
    public static FusedOpWorkload BiasActivation(IBackend backend) => new(backend, layerNorm: false);

    /// <summary>a (x here) and b [rows, 768], their sum, gamma, beta, y, mean, rstd and the gradients.</summary>
    public static FusedOpWorkload AddLayerNorm(IBackend backend) => new(backend, layerNorm: true);

    public int Cols => _cols;

    // ---- bias + activation: x += bias; y = f(x); backward dx += dy f'(x), dBias += column sums ----

    public void BiasActivationForwardUnfused()
    {
        _backend.AddBias(_x, _bias, Rows, _cols);
        _backend.ActivationForward(Kind, _x, _y);
    }

    public void BiasActivationForwardFused() => _backend.BiasActivationForward(Kind, _x, _bias, _y, Rows, _cols);

    public void BiasActivationBackwardUnfused()
    {
        _backend.ActivationBackward(Kind, _x, _dy, _dx);
        _backend.BiasBackward(_dx, _dBias, Rows, _cols);
    }

    public void BiasActivationBackwardFused() => _backend.BiasActivationBackward(Kind, _x, _dy, _dx, _dBias, Rows, _cols);

    // ---- bf16 mixed precision's MLP hidden layer: before, the F32 pair above and a cast of y (forward) or of dx
    // (backward) to the next GEMMs' BF16 operand; now one pass from and to BF16 (Ops.Mlp) ----

    private Tensor Bf16(ref Tensor? t) => t ??= Tensor.Zeros(_backend, [(int)_x.Length], DType.BF16);

    public void BiasActivationForwardFusedThenCast()
    {
        BiasActivationForwardFused();
        _backend.Cast(_y, Bf16(ref _y16));
    }

    public void BiasActivationForwardBf16Hidden() =>
        _backend.BiasActivationForward(Kind, _x, _bias, Bf16(ref _y16), Rows, _cols, Bf16(ref _pre16));

    public void BiasActivationBackwardFusedThenCast()
    {
        BiasActivationBackwardFused();
        _backend.Cast(_dx, Bf16(ref _dx16));
    }

    public void BiasActivationBackwardBf16Hidden() =>
        _backend.BiasActivationBackward(Kind, Bf16(ref _pre16), _dy, Bf16(ref _dx16), _dBias, Rows, _cols);

    // ---- a linear layer's output [rows, 768] (y here, as the GEMM leaves it) and what follows it, in place as Ops.Linear
    // does: the bias and the residual stream (b here) it joins, ViT's attention output and MLP projections; or the bias
    // and bf16's rounding to a BF16 operand, its q, k and v. y grows by bias + b a call, harmlessly for a timing. ----

    public void BiasResidualUnfused()
    {
        _backend.AddBias(_y, _bias, Rows, _cols);
        _backend.Axpy(1, _b!, _y);
    }

    public void BiasResidualFused() => _backend.AddBiasResidual(_y, _bias, _b!, _y, Rows, _cols);

    public void BiasToBf16Unfused()
    {
        _backend.AddBias(_y, _bias, Rows, _cols);
        _backend.Cast(_y, Bf16(ref _y16));
    }

    public void BiasToBf16Fused() => _backend.AddBias(_y, _bias, Rows, _cols, Bf16(ref _y16));
}

/// <summary>
/// Bias + erf GELU on the CPU over [256 x 197, 3072], fused against AddBias then ActivationForward (and backward against
/// ActivationBackward then BiasBackward); and bf16's BF16 hidden layer (BiasActivationForward/Backward on a BF16 pre-activation) against
/// the fused F32 op followed by the cast to the next GEMMs' BF16 operand. Run: dotnet run -c Release --project
/// benchmarks/MedClip.Benchmarks -- --filter '*Cpu*Fused*' --job short.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory), CategoriesColumn]
public class CpuBiasActivationFusedBenchmarks
{
    private FusedOpWorkload _work = null!;

    [GlobalSetup]
    public void Setup() => _work = FusedOpWorkload.BiasActivation(CpuBackend.Instance);

    [Benchmark(Baseline = true), BenchmarkCategory("Forward")]
    public void ForwardUnfused() => _work.BiasActivationForwardUnfused();

    [Benchmark, BenchmarkCategory("Forward")]
    public void ForwardFused() => _work.BiasActivationForwardFused();

    [Benchmark(Baseline = true), BenchmarkCategory("Backward")]
    public void BackwardUnfused() => _work.BiasActivationBackwardUnfused();

    [Benchmark, BenchmarkCategory("Backward")]
    public void BackwardFused() => _work.BiasActivationBackwardFused();

    [Benchmark(Baseline = true), BenchmarkCategory("ForwardBf16")]
    public void ForwardFusedThenCast() => _work.BiasActivationForwardFusedThenCast();

    [Benchmark, BenchmarkCategory("ForwardBf16")]
    public void ForwardBf16Hidden() => _work.BiasActivationForwardBf16Hidden();

    [Benchmark(Baseline = true), BenchmarkCategory("BackwardBf16")]
    public void BackwardFusedThenCast() => _work.BiasActivationBackwardFusedThenCast();

    [Benchmark, BenchmarkCategory("BackwardBf16")]
    public void BackwardBf16Hidden() => _work.BiasActivationBackwardBf16Hidden();
}

/// <summary>
/// A linear layer's epilogue on the CPU over [256 x 197, 768], on the GEMM's output in place: bias and residual in one
/// pass against AddBias then Axpy, and bias with the rounding to BF16 against AddBias then Cast.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory), CategoriesColumn]
public class CpuLinearEpilogueBenchmarks
{
    private FusedOpWorkload _work = null!;

    [GlobalSetup]
    public void Setup() => _work = FusedOpWorkload.AddLayerNorm(CpuBackend.Instance);

    [Benchmark(Baseline = true), BenchmarkCategory("Residual")]
    public void BiasResidualUnfused() => _work.BiasResidualUnfused();

    [Benchmark, BenchmarkCategory("Residual")]
    public void BiasResidualFused() => _work.BiasResidualFused();

    [Benchmark(Baseline = true), BenchmarkCategory("Bf16")]
    public void BiasToBf16Unfused() => _work.BiasToBf16Unfused();

    [Benchmark, BenchmarkCategory("Bf16")]
    public void BiasToBf16Fused() => _work.BiasToBf16Fused();
}

/// <summary>
/// Multi-head attention on the CPU at the tiny preset's image tower (batch 32, 65 tokens, 4 heads of 32), through
/// <see cref="Ops.MultiHeadAttention"/>: the unfused path (permutes, batched GEMMs, masked softmax) against the fused op
/// (<see cref="FusedAttention"/>), forward alone and forward plus backward.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory), CategoriesColumn]
public class CpuAttentionFusedBenchmarks
{
    private const int Batch = 32, Heads = 4, Tokens = 65, HeadDim = 32;
    private Tensor _q = null!, _k = null!, _v = null!, _dO = null!;

    [GlobalSetup]
    public void Setup()
    {
        var init = new Nn.Init(CpuBackend.Instance, DType.F32, 5);
        Shape shape = new(Batch, Tokens, Heads * HeadDim);
        (_q, _k, _v, _dO) = (init.Normal(shape, 1), init.Normal(shape, 1), init.Normal(shape, 1), init.Normal(shape, 1));
        foreach (var t in new[] { _q, _k, _v }) t.RequiresGrad = true;
    }

    private void Attention(bool fused, bool backward)
    {
        var o = Ops.MultiHeadAttention(_q, _k, _v, null, Heads, policy: new ComputePolicy(Attention: fused ? AttentionKind.Fused : AttentionKind.Gemm));
        if (backward) o.Backward(_dO);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Forward")]
    public void ForwardUnfused() => Attention(fused: false, backward: false);

    [Benchmark, BenchmarkCategory("Forward")]
    public void ForwardFused() => Attention(fused: true, backward: false);

    [Benchmark(Baseline = true), BenchmarkCategory("ForwardBackward")]
    public void ForwardBackwardUnfused() => Attention(fused: false, backward: true);

    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void ForwardBackwardFused() => Attention(fused: true, backward: true);
}
