using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using MedClip.Backends.Cpu;

namespace MedClip.Benchmarks;

/// <summary>
/// CpuGemm on square fp32 matrices, the sizes that tools/reference/torch_gemm_bench.py times torch.mm (OpenBLAS) at.
/// Sgemm is torch.mm's case (A @ B); the transposed layouts are a linear layer's forward (A @ B^T) and its weight
/// gradient (A^T @ B). Run: dotnet run -c Release --project benchmarks/MedClip.Benchmarks -- --filter '*GemmBenchmarks*'
/// --job short (or --filter '*GemmBenchmarks.Sgemm' for A @ B alone).
/// </summary>
[Config(typeof(GflopsConfig))]
public class GemmBenchmarks
{
    [Params(256, 512, 1024)]
    public int Size;

    private float[] a = [], b = [], c = [];
    private static readonly CpuGemm Gemm = new(CpuGemmPaths.Host);

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(0);
        a = new float[Size * Size];
        b = new float[Size * Size];
        c = new float[Size * Size];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (float)(2 * rng.NextDouble() - 1);
            b[i] = (float)(2 * rng.NextDouble() - 1);
        }
    }

    [Benchmark]
    public void Sgemm() => Multiply(transA: false, transB: false);

    [Benchmark]
    public void SgemmTransB() => Multiply(transA: false, transB: true);

    [Benchmark]
    public void SgemmTransA() => Multiply(transA: true, transB: false);

    private void Multiply(bool transA, bool transB) =>
        Gemm.Gemm(transA, transB, Size, Size, Size, 1f, a, 0, Size, 0, b, 0, Size, 0, 0f, c, 0, Size, 0, 1);

    private sealed class GflopsConfig : ManualConfig
    {
        public GflopsConfig() => AddColumn(new GflopsColumn());
    }

    /// <summary>2 * Size^3 floating-point operations over the median time.</summary>
    private sealed class GflopsColumn() : MedianRateColumn("GFLOP/s", "2*Size^3 / median time, in 10^9 floating-point operations per second", isNumeric: true)
    {
        protected override string Rate(BenchmarkCase benchmarkCase, double medianNs)
        {
            double size = Convert.ToDouble(benchmarkCase.Parameters["Size"]);
            return (2 * size * size * size / medianNs).ToString("F1");
        }
    }
}
