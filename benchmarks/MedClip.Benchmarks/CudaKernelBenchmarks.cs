using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Parameters;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cuda;
using MedClip.Tensors;

namespace MedClip.Benchmarks;

/// <summary>
/// Per-kernel timings of the CUDA backend on a real device: each benchmark queues <see cref="Repeats"/> launches of one
/// op and then waits for the stream, so the time per operation is device time plus a twentieth of one synchronisation.
/// They run in-process (InProcessEmitToolchain), so a published build runs them without the SDK:
/// <c>MedClip.Benchmarks cuda [BenchmarkDotNet options]</c>. Without a device (or under the emulator, which is no device
/// to time) <see cref="CudaKernelBenchmarkRunner"/> says so and runs nothing. The Throughput column is TFLOP/s for
/// GEMMs and attention and GB/s of compulsory memory traffic (each tensor read or written once) for the memory-bound kernels.
/// </summary>
[Config(typeof(CudaKernelConfig))]
public abstract class CudaKernelBenchmark
{
    public const int Repeats = 20;

    protected CudaBackend Backend { get; private set; } = null!;

    /// <summary>Floating-point operations and bytes moved by one operation of <paramref name="method"/> at these parameters.</summary>
    public abstract (double Flops, double Bytes) Work(string method, ParameterInstances parameters);

    /// <summary>
    /// The measured ceiling <paramref name="method"/>'s rate is compared with: copy bandwidth for memory-bound kernels,
    /// pedantic FP32 GEMM throughput (the CUDA cores' rate) for counted operations unless a benchmark says otherwise.
    /// </summary>
    public virtual Ceiling CeilingOf(string method, double flops) => flops > 0 ? Ceiling.Fp32 : Ceiling.Copy;

    [GlobalSetup]
    public void OpenDevice()
    {
        Backend = new CudaBackend();
        Setup();
        Backend.Synchronize();
    }

    [GlobalCleanup]
    public void CloseDevice() => Backend.Dispose();

    protected abstract void Setup();

    protected Tensor Random(Shape shape, int seed, DType dtype = DType.F32, double scale = 1)
    {
        var rng = new Random(seed);
        var values = new float[shape.Elements];
        for (int i = 0; i < values.Length; i++) values[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        var t = Tensor.FromArray(Backend, shape, values);
        if (dtype == DType.F32) return t;
        var converted = Tensor.Zeros(Backend, shape, dtype);
        Backend.Cast(t, converted);
        return converted;
    }

    protected void Repeat(Action op)
    {
        for (int i = 0; i < Repeats; i++) op();
        Backend.Synchronize();
    }

    protected static int Get(ParameterInstances parameters, string name) => Convert.ToInt32(parameters[name]);
}

/// <summary>Square GEMMs (C = A @ B^T, a linear layer's forward) in pedantic FP32, on TF32 tensor cores, and on BF16 inputs with FP32 accumulation.</summary>
public class CudaGemmBenchmarks : CudaKernelBenchmark
{
    [Params(1024, 4096)]
    public int Size;

    private Tensor _a = null!, _b = null!, _c = null!, _a16 = null!, _b16 = null!;

    protected override void Setup()
    {
        _a = Random([Size, Size], 1);
        _b = Random([Size, Size], 2);
        _c = Tensor.Zeros(Backend, [Size, Size]);
        _a16 = Random([Size, Size], 1, DType.BF16);
        _b16 = Random([Size, Size], 2, DType.BF16);
    }

    private GemmShape Shape => new(false, true, Size, Size, Size);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void Fp32()
    {
        Backend.AllowTf32 = false;
        Repeat(() => Backend.Gemm(_a, _b, _c, Shape));
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void Tf32()
    {
        Backend.AllowTf32 = true;
        Repeat(() => Backend.Gemm(_a, _b, _c, Shape));
        Backend.AllowTf32 = false;
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void Bf16() => Repeat(() => Backend.Gemm(_a16, _b16, _c, Shape));

    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters)
    {
        double n = Get(parameters, nameof(Size));
        int input = method == nameof(Bf16) ? 2 : 4;
        return (2 * n * n * n, n * n * (2 * input + 4));
    }

    public override Ceiling CeilingOf(string method, double flops) => method switch
    {
        nameof(Tf32) => Ceiling.Tf32,
        nameof(Bf16) => Ceiling.Bf16,
        _ => Ceiling.Fp32,
    };
}

/// <summary>Erf GELU over [rows, 768] activations: a ViT-B/16 batch of 64 (64 x 197 tokens) and BERT-base at 128 tokens.</summary>
public class CudaGeluBenchmarks : CudaKernelBenchmark
{
    [Params(12608, 16384)]
    public int Rows;

    private const int Width = 768;
    private Tensor _x = null!, _y = null!, _dy = null!, _dx = null!;

    protected override void Setup()
    {
        _x = Random([Rows, Width], 1, scale: 3);
        _y = Tensor.Zeros(Backend, [Rows, Width]);
        _dy = Random([Rows, Width], 2);
        _dx = Tensor.Zeros(Backend, [Rows, Width]);
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void GeluForward() => Repeat(() => Backend.ActivationForward(Activation.GeluErf, _x, _y));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void GeluBackward() => Repeat(() => Backend.ActivationBackward(Activation.GeluErf, _x, _dy, _dx));

    // x in, y out; or x, dy in and dx read and written (+=).
    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters) =>
        (0, (double)Get(parameters, nameof(Rows)) * Width * (method == nameof(GeluForward) ? 2 : 4) * 4);
}

/// <summary>Attention softmax over [batch x heads x queries, keys] scores: batch 64, 12 heads, 197 tokens (ViT-B/16).</summary>
public class CudaSoftmaxBenchmarks : CudaKernelBenchmark
{
    private const int Batch = 64, Heads = 12, Tokens = 197;
    private Tensor _x = null!, _y = null!, _dy = null!, _dx = null!;

    protected override void Setup()
    {
        var shape = new Shape(Batch * Heads * Tokens, Tokens);
        _x = Random(shape, 1, scale: 4);
        _y = Tensor.Zeros(Backend, shape);
        _dy = Random(shape, 2);
        _dx = Tensor.Zeros(Backend, shape);
        Backend.SoftmaxForward(_x, null, _y, Batch, Heads, Tokens, Tokens, 0.125, causal: false);
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void SoftmaxForward() => Repeat(() => Backend.SoftmaxForward(_x, null, _y, Batch, Heads, Tokens, Tokens, 0.125, causal: false));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void SoftmaxBackward() => Repeat(() => Backend.SoftmaxBackward(_y, _dy, _dx, Batch * Heads * Tokens, Tokens, 0.125));

    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters) =>
        (0, (double)Batch * Heads * Tokens * Tokens * 4 * (method == nameof(SoftmaxForward) ? 2 : 4));
}

/// <summary>
/// Multi-head attention of ViT-B/16 at batch 64 (197 tokens, 12 heads of 64) on q, k, v [64, 197, 768] as the projections
/// write them, through <see cref="Ops.MultiHeadAttention"/>: the unfused path (permutes, batched GEMMs in F32 or on BF16
/// operands, masked softmax) against the fused kernels (<see cref="FusedAttention"/>), forward alone and forward plus
/// backward. TFLOP/s counts the two attention products, 4 B H T^2 d per forward and 3 times that with the backward, for
/// every version, so it compares their times.
/// </summary>
public class CudaAttentionBenchmarks : CudaKernelBenchmark
{
    private const int Batch = 64, Heads = 12, Tokens = 197, HeadDim = 64;
    private Tensor _q = null!, _k = null!, _v = null!, _dO = null!;
    private Tensor _q16 = null!, _k16 = null!, _v16 = null!;

    protected override void Setup()
    {
        var shape = new Shape(Batch, Tokens, Heads * HeadDim);
        (_q, _k, _v, _dO) = (Random(shape, 1, scale: 2), Random(shape, 2, scale: 2), Random(shape, 3), Random(shape, 4));
        // bf16's fused attention reads BF16 q, k, v as the projections store them.
        (_q16, _k16, _v16) = (Random(shape, 1, DType.BF16, scale: 2), Random(shape, 2, DType.BF16, scale: 2), Random(shape, 3, DType.BF16));
        foreach (var t in new[] { _q, _k, _v, _q16, _k16, _v16 }) t.RequiresGrad = true;
    }

    // bf16's fused attention on BF16 q, k, v: tensor cores or the CUDA-core kernels.
    private void AttentionBf16Inputs(bool tensorCores, bool backward)
    {
        bool saved = Backend.TensorCoreAttention;
        Backend.TensorCoreAttention = tensorCores;
        try
        {
            var o = Ops.FusedMultiHeadAttention(_q16, _k16, _v16, null, Heads, Precision.Bf16);
            if (backward) o.Backward(_dO);
        }
        finally
        {
            Backend.TensorCoreAttention = saved;
        }
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void FusedForwardBf16TensorCores() => Repeat(() => AttentionBf16Inputs(tensorCores: true, backward: false));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void FusedForwardBf16CudaCores() => Repeat(() => AttentionBf16Inputs(tensorCores: false, backward: false));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void FusedForwardBackwardBf16TensorCores() => Repeat(() => AttentionBf16Inputs(tensorCores: true, backward: true));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void FusedForwardBackwardBf16CudaCores() => Repeat(() => AttentionBf16Inputs(tensorCores: false, backward: true));

    private void Attention(bool fused, bool bf16, bool backward)
    {
        var o = Ops.MultiHeadAttention(_q, _k, _v, null, Heads, policy: new ComputePolicy(bf16 ? Precision.Bf16 : Precision.Fp32,
            fused ? AttentionKind.Fused : AttentionKind.Gemm));
        if (backward) o.Backward(_dO);
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void GemmForward() => Repeat(() => Attention(fused: false, bf16: false, backward: false));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void GemmForwardBf16() => Repeat(() => Attention(fused: false, bf16: true, backward: false));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void FusedForward() => Repeat(() => Attention(fused: true, bf16: false, backward: false));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void GemmForwardBackward() => Repeat(() => Attention(fused: false, bf16: false, backward: true));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void GemmForwardBackwardBf16() => Repeat(() => Attention(fused: false, bf16: true, backward: true));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void FusedForwardBackward() => Repeat(() => Attention(fused: true, bf16: false, backward: true));

    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters) =>
        ((method.Contains("Backward") ? 3 : 1) * 4.0 * Batch * Heads * Tokens * Tokens * HeadDim, 0);

    // BF16 tensor cores for the tensor-core kernels and bf16's BF16 GEMMs; the CUDA-core kernels and fp32 against FP32.
    public override Ceiling CeilingOf(string method, double flops) =>
        method.EndsWith("TensorCores", StringComparison.Ordinal) || method.StartsWith("GemmForward", StringComparison.Ordinal) && method.EndsWith("Bf16", StringComparison.Ordinal)
            ? Ceiling.Bf16
            : Ceiling.Fp32;
}

/// <summary>
/// AdamW over the parameters of a ViT-B/16 + BERT-base sized model (about 200 tensors, 196 M values): one launch per
/// tensor against the multi-tensor kernel, and the multi-tensor kernel also writing BF16 copies.
/// </summary>
public class CudaAdamWBenchmarks : CudaKernelBenchmark
{
    private AdamWTensor[] _plain = [], _withCopies = [];

    // 12 + 12 layers of width 768 (four 768x768, two 768x3072 matrices and their vectors each), two embedding tables.
    private static IEnumerable<int> Lengths()
    {
        for (int layer = 0; layer < 24; layer++)
        {
            foreach (int n in new[] { 768 * 768, 768, 768 * 768, 768, 768 * 768, 768, 768 * 768, 768, 768, 768, 768 * 3072, 3072, 3072 * 768, 768, 768, 768 })
                yield return n;
        }
        yield return 31090 * 768;
        yield return 197 * 768;
    }

    public static long Values => Lengths().Sum(n => (long)n);

    protected override void Setup()
    {
        var step = new AdamWStep(1e-4, 0.9, 0.999, 1e-8, 0.1, 0.1, 0.001);
        var list = new List<AdamWTensor>();
        var copies = new List<AdamWTensor>();
        int seed = 0;
        foreach (int n in Lengths())
        {
            var p = Random([n], seed++, scale: 0.02);
            var g = Random([n], seed++, scale: 1e-3);
            var t = new AdamWTensor(p, g, Tensor.Zeros(Backend, [n]), Tensor.Zeros(Backend, [n]), null, step);
            list.Add(t);
            copies.Add(t with { Bf16Copy = Tensor.Zeros(Backend, [n], DType.BF16) });
        }
        _plain = [.. list];
        _withCopies = [.. copies];
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void PerTensor() => Repeat(() =>
    {
        foreach (var t in _plain) Backend.AdamW(t.Parameter, t.Gradient, t.M, t.V, t.Step);
    });

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void MultiTensor() => Repeat(() => Backend.AdamWMultiTensor(_plain));

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void MultiTensorWithBf16Copies() => Repeat(() => Backend.AdamWMultiTensor(_withCopies));

    // Reads p, g, m, v and writes p, m, v: 28 bytes a value, 30 with the bf16 copy.
    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters) =>
        (0, Values * (method == nameof(MultiTensorWithBf16Copies) ? 30.0 : 28.0));
}

/// <summary>The fused InfoNCE loss and gradient on a batch's logits (n x n).</summary>
public class CudaInfoNceBenchmarks : CudaKernelBenchmark
{
    [Params(256, 1024)]
    public int Batch;

    private Tensor _logits = null!, _loss = null!, _dLogits = null!;

    protected override void Setup()
    {
        _logits = Random([Batch, Batch], 1, scale: 20);
        _loss = Tensor.Zeros(Backend, new Shape());
        _dLogits = Tensor.Zeros(Backend, [Batch, Batch]);
    }

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void FusedForwardBackward() => Repeat(() => Backend.InfoNceForwardBackward(_logits, _loss, _dLogits, Batch));

    // The logits are read three times (row pass, column pass, gradient pass) and the gradient written once.
    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters)
    {
        double n = Get(parameters, nameof(Batch));
        return (0, n * n * 4 * 4);
    }
}

/// <summary>
/// Bias + erf GELU over [256 x 197, 3072] (<see cref="FusedOpWorkload"/>), fused against the unfused launches, and bf16's
/// BF16 hidden layer against the fused F32 op followed by the cast to BF16 (see <see cref="Work"/>). GB/s is
/// the fused op's compulsory traffic for both versions, so it compares their times: forward reads x and writes x and y,
/// backward reads x and dy and updates dx.
/// </summary>
public class CudaBiasActivationFusedBenchmarks : CudaKernelBenchmark
{
    private FusedOpWorkload _work = null!;

    protected override void Setup() => _work = FusedOpWorkload.BiasActivation(Backend);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void ForwardUnfused() => Repeat(_work.BiasActivationForwardUnfused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void ForwardFused() => Repeat(_work.BiasActivationForwardFused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BackwardUnfused() => Repeat(_work.BiasActivationBackwardUnfused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BackwardFused() => Repeat(_work.BiasActivationBackwardFused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void ForwardFusedThenCast() => Repeat(_work.BiasActivationForwardFusedThenCast);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void ForwardBf16Hidden() => Repeat(_work.BiasActivationForwardBf16Hidden);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BackwardFusedThenCast() => Repeat(_work.BiasActivationBackwardFusedThenCast);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BackwardBf16Hidden() => Repeat(_work.BiasActivationBackwardBf16Hidden);

    // The BF16 hidden layer's versions count their own traffic (read x, write pre and y as BF16; read pre as BF16 and dy,
    // write dx as BF16: 8 bytes a value), against the F32 versions' (12 and 16 bytes) for the two before them, also
    // where a cast follows, so the column compares times within each pair.
    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters) =>
        (0, (method.Contains("Bf16Hidden") || method.Contains("ThenCast") ? 8.0 / 4 : method.StartsWith("Forward") ? 3 : 4)
            * (double)FusedOpWorkload.Rows * FusedOpWorkload.Intermediate * 4);
}

/// <summary>
/// A linear layer's epilogue over [256 x 197, 768] (see <see cref="CpuLinearEpilogueBenchmarks"/>): bias and residual in
/// one pass against AddBias then Axpy; bias and the rounding to BF16 against AddBias then Cast. GB/s is the fused op's
/// compulsory traffic for all four, so an unfused row's rate is the fused op's work over its time.
/// </summary>
public class CudaLinearEpilogueBenchmarks : CudaKernelBenchmark
{
    private FusedOpWorkload _work = null!;

    protected override void Setup() => _work = FusedOpWorkload.AddLayerNorm(Backend);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BiasResidualUnfused() => Repeat(_work.BiasResidualUnfused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BiasResidualFused() => Repeat(_work.BiasResidualFused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BiasToBf16Unfused() => Repeat(_work.BiasToBf16Unfused);

    [Benchmark(OperationsPerInvoke = Repeats)]
    public void BiasToBf16Fused() => Repeat(_work.BiasToBf16Fused);

    // x and the residual read and y written in F32 (12 bytes a value); x read in F32 and y written in BF16 (6).
    public override (double Flops, double Bytes) Work(string method, ParameterInstances parameters) =>
        (0, (method.StartsWith("BiasResidual", StringComparison.Ordinal) ? 12.0 : 6.0) * FusedOpWorkload.Rows * FusedOpWorkload.Width);
}

/// <summary>In-process runs (no SDK needed) with a Throughput column.</summary>
public sealed class CudaKernelConfig : ManualConfig
{
    public CudaKernelConfig()
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance));
        AddColumn(new ThroughputColumn());
    }

    /// <summary>
    /// TFLOP/s where the benchmark counts floating-point operations, else GB/s, over the median time per operation, and
    /// the share of the card's measured ceiling for it (<see cref="CudaKernelBenchmarkRunner.Ceilings"/>) when measured.
    /// </summary>
    private sealed class ThroughputColumn() : MedianRateColumn("Throughput",
        "TFLOP/s for GEMMs and attention, GB/s of compulsory memory traffic for the other kernels (median time per operation), " +
        "and in brackets the share of the card's measured ceiling: copy bandwidth, or the FP32, TF32 or BF16 GEMM rate", isNumeric: false)
    {
        protected override string Rate(BenchmarkCase benchmarkCase, double medianNs)
        {
            var instance = (CudaKernelBenchmark)Activator.CreateInstance(benchmarkCase.Descriptor.Type)!;
            string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
            var (flops, bytes) = instance.Work(method, benchmarkCase.Parameters);
            double rate = flops > 0 ? flops / medianNs / 1e3 : bytes / medianNs;
            string text = flops > 0 ? $"{rate:F1} TFLOP/s" : $"{rate:F0} GB/s";
            return CudaKernelBenchmarkRunner.Ceilings is { } ceilings ? $"{text} ({ShareOf(rate, ceilings, instance.CeilingOf(method, flops))})" : text;
        }
    }

    /// <summary>"87% of bf16 GEMM 812.3": a rate as a share of the ceiling of its kind.</summary>
    public static string ShareOf(double rate, DeviceCeilings ceilings, Ceiling kind)
    {
        double ceiling = ceilings.Of(kind);
        string name = kind == Ceiling.Copy ? "copy" : $"{kind.ToString().ToLowerInvariant()} GEMM";
        return double.IsFinite(ceiling) ? $"{rate / ceiling:P0} of {name} {ceiling:F1}" : $"no {name} on this card";
    }
}

/// <summary>Runs the CUDA kernel benchmarks when a real device is there, and otherwise says why not and runs nothing.</summary>
public static class CudaKernelBenchmarkRunner
{
    public static readonly Type[] Types =
        [typeof(CudaGemmBenchmarks), typeof(CudaLayerNormBenchmarks), typeof(CudaGeluBenchmarks), typeof(CudaSoftmaxBenchmarks), typeof(CudaAdamWBenchmarks), typeof(CudaInfoNceBenchmarks),
        typeof(CudaBiasActivationFusedBenchmarks), typeof(CudaAddLayerNormFusedBenchmarks), typeof(CudaLinearEpilogueBenchmarks), typeof(CudaAttentionBenchmarks)];

    /// <summary>Null when a real CUDA device can be opened, else the sentence saying why the benchmarks are skipped.</summary>
    public static string? WhyNoDevice()
    {
        try
        {
            using var backend = new CudaBackend();
            return backend.Device.IsEmulator
                ? "MEDCLIP_CUDA=emulator selects the CUDA emulator, which runs kernels on the CPU and is no device to time; CUDA kernel benchmarks skipped."
                : null;
        }
        catch (Backends.Cuda.Native.CudaUnavailableException e)
        {
            return $"No CUDA device: {e.Message} CUDA kernel benchmarks skipped.";
        }
    }

    /// <summary>The card's measured ceilings, taken once before the benchmarks (they run in this process).</summary>
    public static DeviceCeilings? Ceilings { get; private set; }

    public static int Run(string[] args)
    {
        if (WhyNoDevice() is string reason)
        {
            Console.WriteLine(reason);
            return 0;
        }
        using (var backend = new CudaBackend())
            Ceilings = DeviceCeilings.Measure(backend);
        var c = Ceilings;
        Console.WriteLine($"ceilings: copy {c.CopyGBps:F0} GB/s, GEMM {DeviceCeilings.DefaultGemmSize}^3 fp32 {c.Fp32Tflops:F1}, tf32 {c.Tf32Tflops:F1}, bf16 {c.Bf16Tflops:F1} TFLOP/s");
        // One JSON line for tools/gpu/check.sh's report; a ceiling the card lacks (BF16 before 8.0) is null.
        static string Number(double value) => double.IsFinite(value) ? Math.Round(value, 2).ToString(System.Globalization.CultureInfo.InvariantCulture) : "null";
        Console.WriteLine($"{{\"ceilings\": {{\"copy_gbps\": {Number(c.CopyGBps)}, \"fp32_tflops\": {Number(c.Fp32Tflops)}, " +
            $"\"tf32_tflops\": {Number(c.Tf32Tflops)}, \"bf16_tflops\": {Number(c.Bf16Tflops)}}}}}");
        BenchmarkSwitcher.FromTypes(Types).Run(args.Length == 0 ? ["--filter", "*"] : args, new CudaKernelConfig());
        return 0;
    }
}
