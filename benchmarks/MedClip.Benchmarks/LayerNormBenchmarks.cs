using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Parameters;
using MedClip.Backends.Cpu;
using MedClip.Tensors;

namespace MedClip.Benchmarks;

// Layer norm's benchmarks: the CUDA kernels' bandwidth, and the residual add + layer norm fusion against the unfused ops
// on the CPU and on a device (over FusedOpWorkload's [256 x 197, 768] residual stream).

/// <summary>Layer norm over [rows, 768] activations on a device: a ViT-B/16 batch of 64 (64 x 197 tokens) and BERT-base at 128 tokens.</summary>
public class CudaLayerNormBenchmarks : CudaKernelBenchmark
{
    [Params(12608, 16384)]
    public int Rows;

    private const int Width = 768;
    private Tensor _x = null!, _y = null!, _gamma = null!, _beta = null!, _mean = null!, _rstd = null!, _dy = null!, _dx = null!, _dGamma = null!, _dBeta = null!;

    protected override void Setup()
    {
        _x = Random([Rows, Width], 1, scale: 3);
        _y = Tensor.Zeros(Backend, [Rows, Width]);
        _dy = Random([Rows, Width], 2);
        _dx = Tensor.Zeros(Backend, [Rows, Width]);
        _gamma = Random([Width], 3);
        _beta = Random([Width], 4);
        _dGamma = Tensor.Zeros(Backend, [Width]);
        _dBeta = Tensor.Zeros(Backend, [Width]);
        _mean = Tensor.Zeros(Backend, [Rows]);
        _rstd = Tensor.Zeros(Backend, [Rows]);
        Backend.LayerNormForward(_x, _gamma, _beta, _y, _mean, _rstd, Rows, Width, 1e-12);
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void LayerNormForward() => Repeat(() => Backend.LayerNormForward(_x, _gamma, _beta, _y, _mean, _rstd, Rows, Width, 1e-12));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void LayerNormBackward() => Repeat(() => Backend.LayerNormBackward(_dy, _x, _gamma, _mean, _rstd, _dx, _dGamma, _dBeta, Rows, Width));

    // x in and y out (mean, rstd and gamma are small); or dy and x in, dx read and written (+=).
    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters)
    {
        double tensors = method == nameof(LayerNormForward) ? 2 : 4;
        return (0, (double)Get(parameters, nameof(Rows)) * Width * tensors * 4);
    }
}

/// <summary>
/// Residual add + layer norm on the CPU over [256 x 197, 768], fused (keeping the sum, as pre-LN does, and not, as
/// post-LN does) against AddScaled then LayerNormForward, and the post-LN backward against LayerNormBackward then two
/// Axpy.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory), CategoriesColumn]
public class CpuAddLayerNormFusedBenchmarks
{
    private FusedOpWorkload _work = null!;

    [GlobalSetup]
    public void Setup() => _work = FusedOpWorkload.AddLayerNorm(CpuBackend.Instance);

    [Benchmark(Baseline = true), BenchmarkCategory("Forward")]
    public void ForwardUnfused() => _work.AddLayerNormForwardUnfused();

    [Benchmark, BenchmarkCategory("Forward")]
    public void ForwardFusedKeepingSum() => _work.AddLayerNormForwardFusedKeepingSum();

    [Benchmark, BenchmarkCategory("Forward")]
    public void ForwardFused() => _work.AddLayerNormForwardFused();

    [Benchmark(Baseline = true), BenchmarkCategory("Backward")]
    public void BackwardUnfused() => _work.AddLayerNormBackwardUnfused();

    [Benchmark, BenchmarkCategory("Backward")]
    public void BackwardFused() => _work.AddLayerNormBackwardFused();
}

/// <summary>
/// Residual add + layer norm over [256 x 197, 768] (<see cref="FusedOpWorkload"/>), fused (keeping the sum as pre-LN
/// does, and not, as post-LN does) against the unfused launches, and the post-LN backward. GB/s is the fused op's
/// compulsory traffic: forward reads a and b and writes y (and the sum when kept), backward reads dy, a and b and
/// updates da and db.
/// </summary>
public class CudaAddLayerNormFusedBenchmarks : CudaKernelBenchmark
{
    private FusedOpWorkload _work = null!;

    protected override void Setup() => _work = FusedOpWorkload.AddLayerNorm(Backend);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void ForwardUnfused() => Repeat(_work.AddLayerNormForwardUnfused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void ForwardFusedKeepingSum() => Repeat(_work.AddLayerNormForwardFusedKeepingSum);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void ForwardFused() => Repeat(_work.AddLayerNormForwardFused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BackwardUnfused() => Repeat(_work.AddLayerNormBackwardUnfused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BackwardFused() => Repeat(_work.AddLayerNormBackwardFused);

    // The unfused forward is counted as the fused one that keeps the sum, as it does.
    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters)
    {
        double tensors = method switch
        {
            nameof(ForwardUnfused) or nameof(ForwardFusedKeepingSum) => 4,
            nameof(ForwardFused) => 3,
            _ => 7,
        };
        return (0, tensors * FusedOpWorkload.Rows * FusedOpWorkload.Width * 4);
    }
}

public sealed partial class FusedOpWorkload
{
    // ---- residual add + layer norm: s = a + b; y = LN(s); backward ds = LN'(dy), da += ds, db += ds ----

    public void AddLayerNormForwardUnfused()
    {
        _backend.AddScaled(_x, 1, _b!, 1, _sum!);
        _backend.LayerNormForward(_sum!, _gamma!, _beta!, _y, _mean!, _rstd!, Rows, _cols, 1e-12);
    }

    /// <summary>Pre-LN (ViT): the sum is kept as the residual stream.</summary>
    public void AddLayerNormForwardFusedKeepingSum() =>
        _backend.AddLayerNormForward(_x, _b!, _sum, _gamma!, _beta!, _y, _mean!, _rstd!, Rows, _cols, 1e-12);

    /// <summary>Post-LN (BERT): the sum is not kept.</summary>
    public void AddLayerNormForwardFused() =>
        _backend.AddLayerNormForward(_x, _b!, null, _gamma!, _beta!, _y, _mean!, _rstd!, Rows, _cols, 1e-12);

    public void AddLayerNormBackwardUnfused()
    {
        _backend.LayerNormBackward(_dy, _sum!, _gamma!, _mean!, _rstd!, _dSum!, _dGamma!, _dBeta!, Rows, _cols);
        _backend.Axpy(1, _dSum!, _dx);
        _backend.Axpy(1, _dSum!, _db!);
    }

    /// <summary>Post-LN: the sum has no other use; pre-LN's backward is the unfused one (layer norm into h's gradient).</summary>
    public void AddLayerNormBackwardFused() =>
        _backend.AddLayerNormBackward(_dy, _x, _b!, _gamma!, _mean!, _rstd!, _dx, _db, _dGamma!, _dBeta!, Rows, _cols);
}
