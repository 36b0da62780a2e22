using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.IO;
using MedClip.Tensors;
using MedClip.Tests.Backends;
using MedClip.Tests.Backends.Cuda;
using MedClip.Tests.Fixtures;
using Xunit.Abstractions;
using static MedClip.Tests.Autograd.GradientChecker;
using static MedClip.Tests.Backends.OpOperands;
using static MedClip.Tests.Fixtures.TorchFixture;

namespace MedClip.Tests.Operators;

/// <summary>
/// Layer norm, alone and fused with the residual add before it, through every layer: the tape's gradients against finite
/// differences in double, the forward and gradients against PyTorch's (Fixtures/layernorm.safetensors), the fused CPU op
/// against the add then the layer norm, and the CUDA kernels against the CPU reference under the emulator.
/// </summary>
[Collection(EmulatorCollection.Name)]
public sealed class LayerNormTests(EmulatorFixture emulator, ITestOutputHelper output)
{
    private static readonly CpuBackend Cpu = CpuBackend.Instance;

    // ---- the tape: gradients against central finite differences in double ----------------------------------------

    [Theory]
    [InlineData(1, 1e-12)]
    [InlineData(7, 1e-5)]
    [InlineData(33, 1e-6)]
    public void LayerNorm_AllInputs(int cols, double eps)
    {
        var rng = new Random(cols);
        var x = Random(rng, [3, 5, cols], scale: 2);
        var gamma = Random(rng, [cols]);
        var beta = Random(rng, [cols]);
        // A width of 1 normalises to exactly beta: only beta has a gradient there.
        Check(() => Ops.LayerNorm(x, gamma, beta, eps), cols == 1 ? [beta] : [x, gamma, beta]);
    }

    [Theory]
    [InlineData(7, 1e-5)]
    [InlineData(33, 1e-6)]
    public void AddLayerNorm_BothSummandsAndParameters(int cols, double eps)
    {
        var rng = new Random(18 + cols);
        var a = Random(rng, [3, 5, cols], scale: 2);
        var b = Random(rng, [3, 5, cols]);
        var gamma = Random(rng, [cols]);
        var beta = Random(rng, [cols]);
        Check(() => Ops.AddLayerNorm(a, b, gamma, beta, eps), [a, b, gamma, beta]);
    }

    [Fact]
    public void AddLayerNormKeepingSum_BothOutputsReachTheSummands()
    {
        // As in a pre-LN layer: the sum goes on as the residual stream and its layer norm through a linear layer, so a and
        // b get the gradients of both paths.
        var rng = new Random(19);
        var a = Random(rng, [2, 3, 11], scale: 2);
        var b = Random(rng, [2, 3, 11]);
        var gamma = Random(rng, [11]);
        var beta = Random(rng, [11]);
        var w = Random(rng, [11, 11]);
        Check(() =>
        {
            var (sum, normalized) = Ops.AddLayerNormKeepingSum(a, b, gamma, beta, 1e-5);
            return Ops.Add(sum, Ops.Linear(normalized, w));
        }, [a, b, gamma, beta, w]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AddLayerNorm_OneSummandWithoutGradient_AndOneTensorAddedToItself(bool keepSum)
    {
        var rng = new Random(20);
        var a = Random(rng, [4, 9], scale: 2);
        var b = Random(rng, [4, 9], requiresGrad: false);
        var gamma = Random(rng, [9]);
        var beta = Random(rng, [9], requiresGrad: false);
        Tensor Normalized(Tensor first, Tensor second) =>
            keepSum ? Ops.AddLayerNormKeepingSum(first, second, gamma, beta, 1e-5).Normalized : Ops.AddLayerNorm(first, second, gamma, beta, 1e-5);
        Check(() => Normalized(b, a), [a, gamma]);
        Check(() => Normalized(a, a), [a, gamma]);
    }

    private static Tensor Zeros(Shape shape) => Tensor.Zeros(Cpu, shape, DType.F32);

    [Fact]
    public void LayerNorm_GammaMismatch_NamesBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Ops.LayerNorm(Zeros([2, 7]), Zeros([6]), Zeros([7]), 1e-5));
        Assert.Contains("LayerNorm", e.Message);
        Assert.Contains("[2, 7]", e.Message);
        Assert.Contains("[6]", e.Message);
    }

    // ---- PyTorch's layer norm (tools/reference/make_fixtures.py) --------------------------------------------------

    [Fact]
    public void LayerNorm_MatchesTorch()
    {
        SafetensorsFile f = Load("layernorm.safetensors");
        Tensor x = Input(f, "x"), weight = Input(f, "weight"), bias = Input(f, "bias");

        Tensor y = Ops.LayerNorm(x, weight, bias, double.Parse(f.Metadata["eps"]));
        y.Backward(Input(f, "dy", requiresGrad: false));

        TorchFixture.AssertClose(output, f, "y", y);
        TorchFixture.AssertClose(output, f, "grad.x", x.Grad);
        TorchFixture.AssertClose(output, f, "grad.weight", weight.Grad);
        TorchFixture.AssertClose(output, f, "grad.bias", bias.Grad);
    }

    // ---- the fused CPU op against the unfused ones ----------------------------------------------------------------

    public static TheoryData<int, int, DType, bool> CpuAddLayerNormCases()
    {
        var cases = new TheoryData<int, int, DType, bool>();
        foreach (var (rows, cols) in FusedShapes)
        {
            foreach (var dtype in new[] { DType.F32, DType.F64 })
            {
                foreach (bool keepSum in new[] { true, false }) cases.Add(rows, cols, dtype, keepSum);
            }
        }
        return cases;
    }

    [Theory]
    [MemberData(nameof(CpuAddLayerNormCases))]
    public void AddLayerNorm_IsAddThenLayerNorm(int rows, int cols, DType dtype, bool keepSum)
    {
        var rng = new Random(rows * cols);
        int n = rows * cols;
        double[] a = Values(rng, n, 2, 0.5), b = Values(rng, n), gamma = Values(rng, cols), beta = Values(rng, cols), dy = Values(rng, n);
        double[] da = Values(rng, n), db = Values(rng, n), dGamma = Values(rng, cols), dBeta = Values(rng, cols);
        const double eps = 1e-5;

        // Unfused: s = a + b, y = LN(s); backward ds = LN'(dy) into zeros, then da += ds and db += ds.
        var s = Make(new double[n], dtype);
        Cpu.AddScaled(Make(a, dtype), 1, Make(b, dtype), 1, s);
        var (y, mean, rstd) = (Make(new double[n], dtype), Make(new double[rows], dtype), Make(new double[rows], dtype));
        Cpu.LayerNormForward(s, Make(gamma, dtype), Make(beta, dtype), y, mean, rstd, rows, cols, eps);
        var ds = Make(new double[n], dtype);
        var (expectedDGamma, expectedDBeta) = (Make(dGamma, dtype), Make(dBeta, dtype));
        Cpu.LayerNormBackward(Make(dy, dtype), s, Make(gamma, dtype), mean, rstd, ds, expectedDGamma, expectedDBeta, rows, cols);
        var (expectedDa, expectedDb) = (Make(da, dtype), Make(db, dtype));
        Cpu.Axpy(1, ds, expectedDa);
        Cpu.Axpy(1, ds, expectedDb);

        // Outputs start as noise: the forward overwrites them.
        var sum = keepSum ? Make(Values(rng, n), dtype) : null;
        var (fusedY, fusedMean, fusedRstd) = (Make(Values(rng, n), dtype), Make(Values(rng, rows), dtype), Make(Values(rng, rows), dtype));
        Cpu.AddLayerNormForward(Make(a, dtype), Make(b, dtype), sum, Make(gamma, dtype), Make(beta, dtype), fusedY, fusedMean, fusedRstd, rows, cols, eps);
        if (sum is not null) Assert.Equal(Get(s), Get(sum));
        Assert.Equal(Get(y), Get(fusedY));
        Assert.Equal(Get(mean), Get(fusedMean));
        Assert.Equal(Get(rstd), Get(fusedRstd));

        var (fusedDa, fusedDb, fusedDGamma, fusedDBeta) = (Make(da, dtype), Make(db, dtype), Make(dGamma, dtype), Make(dBeta, dtype));
        Cpu.AddLayerNormBackward(Make(dy, dtype), Make(a, dtype), Make(b, dtype), Make(gamma, dtype), fusedMean, fusedRstd, fusedDa, fusedDb,
            fusedDGamma, fusedDBeta, rows, cols);
        Assert.Equal(Get(expectedDa), Get(fusedDa));
        Assert.Equal(Get(expectedDb), Get(fusedDb));
        Assert.Equal(Get(expectedDGamma), Get(fusedDGamma));
        Assert.Equal(Get(expectedDBeta), Get(fusedDBeta));
    }

    [Fact]
    public void AddLayerNormBackward_LeavesOutAbsentGradients()
    {
        const int rows = 4, cols = 9;
        var rng = new Random(9);
        var (a, b) = (Make(Values(rng, rows * cols), DType.F32), Make(Values(rng, rows * cols), DType.F32));
        var (gamma, beta) = (Make(Values(rng, cols), DType.F32), Make(Values(rng, cols), DType.F32));
        var (y, mean, rstd) = (Make(new double[rows * cols], DType.F32), Make(new double[rows], DType.F32), Make(new double[rows], DType.F32));
        Cpu.AddLayerNormForward(a, b, null, gamma, beta, y, mean, rstd, rows, cols, 1e-5);
        var (da, db) = (Make(new double[rows * cols], DType.F32), Make(new double[rows * cols], DType.F32));
        var dy = Make(Values(rng, rows * cols), DType.F32);
        Cpu.AddLayerNormBackward(dy, a, b, gamma, mean, rstd, da, null, Make(new double[cols], DType.F32), Make(new double[cols], DType.F32), rows, cols);
        Cpu.AddLayerNormBackward(dy, a, b, gamma, mean, rstd, null, db, Make(new double[cols], DType.F32), Make(new double[cols], DType.F32), rows, cols);
        Assert.Contains(Get(da), v => v != 0);
        Assert.Equal(Get(da), Get(db));
    }

    // ---- the CUDA kernels against the CPU reference, under the emulator --------------------------------------------

    public static TheoryData<int, int, DType, bool> DeviceAddLayerNormCases() => new()
    {
        { 67, 130, DType.F32, true },
        { 67, 130, DType.F32, false },
        { 128, 512, DType.F32, true },
        { 128, 512, DType.F32, false },
        { 67, 130, DType.F64, false },
    };

    [EmulatorTheory]
    [MemberData(nameof(DeviceAddLayerNormCases))]
    public void AddLayerNorm_ForwardAndBackward_MatchCpu(int rows, int cols, DType dtype, bool keepSum)
    {
        var rng = new Random(rows + cols);
        int n = rows * cols;
        var a = Pair(rng, n, dtype, 2);
        var b = Pair(rng, n, dtype);
        var (sum, gamma, beta, y, mean, rstd) = (Pair(rng, n, dtype), Pair(rng, cols, dtype), Pair(rng, cols, dtype), Pair(rng, n, dtype),
            Pair(rng, rows, dtype), Pair(rng, rows, dtype));
        Run([a, b, sum, gamma, beta, y, mean, rstd], (be, t) => be.AddLayerNormForward(t[0], t[1], keepSum ? t[2] : null, t[3], t[4], t[5], t[6],
            t[7], rows, cols, 1e-5), dtype, outputs: keepSum ? [2, 5, 6, 7] : [5, 6, 7]);
        // The backward (which never reads a kept sum) with the statistics each side computed, with and without a
        // gradient for b.
        if (keepSum) return;
        foreach (bool bothGradients in new[] { true, false })
        {
            Run([Pair(rng, n, dtype), a, b, gamma, mean, rstd, Pair(rng, n, dtype), Pair(rng, n, dtype), Pair(rng, cols, dtype), Pair(rng, cols, dtype)],
                (be, t) => be.AddLayerNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], bothGradients ? t[7] : null, t[8], t[9], rows, cols),
                dtype, outputs: [6, 7, 8, 9]);
        }
    }

    /// <summary>bf16 mixed precision's BF16 layer-norm outputs: plain, and fused with the residual add keeping the sum.</summary>
    [EmulatorFact]
    public void LayerNorm_Bf16Output_MatchesCpu()
    {
        const int rows = 67, cols = 132;
        var rng = new Random(8);
        int n = rows * cols;
        Operand Bf16() => new(Tensor.Zeros(CpuBackend.Instance, [n], DType.BF16), Tensor.Zeros(emulator.Backend, [n], DType.BF16));
        var (x, b, gamma, beta, mean, rstd, sum) = (Pair(rng, n, DType.F32, 2), Pair(rng, n, DType.F32), Pair(rng, cols, DType.F32), Pair(rng, cols, DType.F32),
            Pair(rng, rows, DType.F32), Pair(rng, rows, DType.F32), Pair(rng, n, DType.F32));
        // One BF16 unit (2^-8) where a value lies within a last-bit difference of a rounding boundary.
        Run([x, gamma, beta, Bf16(), mean, rstd], (be, t) => be.LayerNormForward(t[0], t[1], t[2], t[3], t[4], t[5], rows, cols, 1e-5), DType.F32,
            outputs: [3, 4, 5], tolerance: 4e-3);
        var y = Bf16();
        Run([x, b, sum, gamma, beta, y, mean, rstd], (be, t) => be.AddLayerNormForward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], rows, cols, 1e-5),
            DType.F32, outputs: [2, 5, 6, 7], tolerance: 4e-3);
        Assert.Contains(Get(y.Device), v => v != 0);
        var e = Assert.Throws<ArgumentException>(() => emulator.Backend.AddLayerNormForward(x.Device, b.Device, null, gamma.Device, beta.Device, y.Device,
            mean.Device, rstd.Device, rows, cols, 1e-5));
        Assert.Equal("AddLayerNormForward: a BF16 output needs the sum kept (it cannot hold the F32 sum).", e.Message);
    }

    private Operand Pair(Random rng, int n, DType dtype, double scale = 1) => OpOperands.Pair(emulator.Backend, rng, n, dtype, scale);
}
