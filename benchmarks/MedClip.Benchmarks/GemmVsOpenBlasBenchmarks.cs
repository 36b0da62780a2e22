using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using MedClip.Backends.Cpu;

namespace MedClip.Benchmarks;

/// <summary>
/// CpuGemm at each vector path beside OpenBLAS's cblas_sgemm, fp32, in one process with the same thread count (OpenBLAS
/// set to Environment.ProcessorCount threads), on the 256, 512 and 1024 cubes and the tiny preset's GEMMs (the shapes a
/// tiny training step calls, with their transposes and beta; a batch is one call of CpuGemm and a loop of cblas_sgemm
/// calls). Without libopenblas.so.0 one line says so and only CpuGemm runs.
/// Run: dotnet run -c Release --project benchmarks/MedClip.Benchmarks -- --filter '*GemmVsOpenBlas*'
/// </summary>
[Config(typeof(Config))]
public class GemmVsOpenBlasBenchmarks
{
    /// <summary>One GEMM call: C = op(A) @ op(B) + Beta * C, Batch times over contiguous matrices.</summary>
    public sealed record Shape(string Name, bool TransA, bool TransB, int M, int N, int K, float Beta = 0, int Batch = 1)
    {
        public double Flops => 2.0 * M * N * K * Batch;

        public override string ToString() => Name;
    }

    public static IEnumerable<Shape> Shapes() =>
    [
        new("cube256", false, false, 256, 256, 256),
        new("cube512", false, false, 512, 512, 512),
        new("cube1024", false, false, 1024, 1024, 1024),
        // Linear 128 -> 128 over 32 x 65 tokens: forward, input gradient, weight gradient.
        new("NT_2080x128x128", false, true, 2080, 128, 128),
        new("NN_2080x128x128_b1", false, false, 2080, 128, 128, 1),
        new("TN_128x128x2080_b1", true, false, 128, 128, 2080, 1),
        // MLP 128 -> 512 -> 128.
        new("NT_2080x512x128", false, true, 2080, 512, 128),
        new("NT_2080x128x512", false, true, 2080, 128, 512),
        new("NN_2080x128x512_b1", false, false, 2080, 128, 512, 1),
        new("TN_512x128x2080_b1", true, false, 512, 128, 2080, 1),
        // Attention over 32 x 4 heads of 65 tokens x 32: scores, context, and a backward product.
        new("NT_65x65x32_x128", false, true, 65, 65, 32, 0, 128),
        new("NN_65x32x65_x128", false, false, 65, 32, 65, 0, 128),
        new("TN_65x32x65_x128_b1", true, false, 65, 32, 65, 1, 128),
    ];

    public static IEnumerable<string> Implementations()
    {
        yield return "vector256";
        if (CpuGemmPaths.IsAccelerated(CpuGemmPath.Vector512)) yield return "vector512";
        if (OpenBlas.IsAvailable) yield return "openblas";
        else Console.WriteLine($"{OpenBlas.Library} is not installed (Debian: apt-get install libopenblas0-pthread), so the OpenBLAS rows are skipped.");
    }

    [ParamsSource(nameof(Shapes))]
    public Shape Case { get; set; } = null!;

    [ParamsSource(nameof(Implementations))]
    public string Implementation { get; set; } = "";

    private float[] a = [], b = [], c = [];
    private CpuGemm? gemm;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(0);
        a = Random(rng, (long)Case.M * Case.K * Case.Batch);
        b = Random(rng, (long)Case.K * Case.N * Case.Batch);
        c = Random(rng, (long)Case.M * Case.N * Case.Batch);
        gemm = Implementation == "openblas" ? null : new CpuGemm(Implementation == "vector512" ? CpuGemmPath.Vector512 : CpuGemmPath.Vector256);
        if (gemm is null) OpenBlas.SetThreads(Environment.ProcessorCount);
    }

    [Benchmark]
    public unsafe void Sgemm()
    {
        var s = Case;
        int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
        long strideA = (long)s.M * s.K, strideB = (long)s.K * s.N, strideC = (long)s.M * s.N;
        if (gemm is not null)
        {
            gemm.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, 0, lda, strideA, b, 0, ldb, strideB, s.Beta, c, 0, s.N, strideC, s.Batch);
            return;
        }
        fixed (float* pa = a, pb = b, pc = c)
        {
            for (int i = 0; i < s.Batch; i++)
                OpenBlas.Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, pa + i * strideA, lda, pb + i * strideB, ldb, s.Beta, pc + i * strideC, s.N);
        }
    }

    private static float[] Random(Random rng, long length)
    {
        var values = new float[length];
        for (long i = 0; i < length; i++) values[i] = (float)(2 * rng.NextDouble() - 1);
        return values;
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance));
            AddColumn(new GflopsColumn());
        }
    }

    /// <summary>The shape's floating-point operations over the median time.</summary>
    private sealed class GflopsColumn() : MedianRateColumn("GFLOP/s", "2*M*N*K*batch / median time, in 10^9 floating-point operations per second", isNumeric: true)
    {
        protected override string Rate(BenchmarkCase benchmarkCase, double medianNs) =>
            (((Shape)benchmarkCase.Parameters["Case"]).Flops / medianNs).ToString("F1");
    }
}
