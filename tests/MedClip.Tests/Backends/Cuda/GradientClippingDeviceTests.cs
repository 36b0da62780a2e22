using MedClip.Backends.Cpu;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>Global-norm clipping on the device against the CPU reference: the same factor, the same bits, no host read.</summary>
[Collection(EmulatorCollection.Name)]
public class GradientClippingDeviceTests(EmulatorFixture emulator)
{
    [EmulatorTheory]
    [InlineData(9.0)]    // clipped: factor 1/3
    [InlineData(0.25)]   // under the limit: x unchanged
    [InlineData(double.NaN)]   // a NaN norm: no factor below 1, x unchanged
    public void ClipByNorm_OnTheDevice_MatchesTheCpuBitForBit(double sumSquares)
    {
        var random = new Random(5);
        float[] x = [.. Enumerable.Range(0, 2307).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        float[] Run(MedClip.Backends.IBackend backend)
        {
            var t = Tensor.FromArray(backend, [x.Length], x);
            backend.ClipByNorm(t, Tensor.Scalar(backend, sumSquares), 1.0);
            return t.ToArray<float>();
        }
        var cpu = Run(CpuBackend.Instance);
        Assert.Equal(cpu, Run(emulator.Backend));
        if (sumSquares == 9.0) Assert.Equal(x.Select(v => v * (float)(1.0 / (3.0 + 1e-6))), cpu);
        else Assert.Equal(x, cpu);
    }

    [EmulatorFact]
    public void ClipByGlobalNorm_OnTheDevice_ScalesEveryGradientLikeTheCpu()
    {
        var random = new Random(6);
        float[][] values = [.. new[] { 2307, 64, 1 }.Select(n => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray())];
        var (cpuNorm, cpu) = Clip(CpuBackend.Instance, values, 0.5);
        var (deviceNorm, device) = Clip(emulator.Backend, values, 0.5);
        Assert.Equal(cpuNorm, deviceNorm, 1e-4); // the sums of squares add in different orders
        for (int i = 0; i < values.Length; i++)
            for (int j = 0; j < values[i].Length; j++) Assert.Equal(cpu[i][j], device[i][j], 1e-6);
        Assert.Equal(0.5, Math.Sqrt(device.Sum(g => g.Sum(v => (double)v * v))), 1e-5);
    }

    [EmulatorFact]
    public void NonFiniteGradient_LeavesEveryGradientAsItWas_AndReportsTheNorm()
    {
        float[][] values = [[1f, float.NaN, 3f], [4f]];
        var (norm, device) = Clip(emulator.Backend, values, 0.5);
        Assert.True(double.IsNaN(norm));
        Assert.Equal(values[1], device[1]);
        Assert.Equal(1f, device[0][0]);
    }

    private static (double Norm, float[][] Gradients) Clip(MedClip.Backends.IBackend backend, float[][] values, double maxNorm)
    {
        var parameters = values.Select(v =>
        {
            var p = Tensor.Zeros(backend, [v.Length]);
            p.Grad = Tensor.FromArray(backend, [v.Length], v);
            return p;
        }).ToArray();
        var sumSquares = GradientClipping.ClipByGlobalNorm(parameters, maxNorm);
        return (GradientClipping.Norm(sumSquares), [.. parameters.Select(p => p.Grad!.ToArray<float>())]);
    }
}
