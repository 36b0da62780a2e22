using MedClip.Backends.Cpu;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Tests.Optim;

public class AdamWTests
{
    // torch.optim.AdamW, written out for one scalar: p = p(1 - lr wd) - lr mhat / (sqrt(vhat) + eps).
    private static double[] Reference(double p, double[] grads, double lr, double wd, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8)
    {
        double m = 0, v = 0;
        var trace = new double[grads.Length];
        for (int t = 1; t <= grads.Length; t++)
        {
            double g = grads[t - 1];
            p *= 1 - lr * wd;
            m = b1 * m + (1 - b1) * g;
            v = b2 * v + (1 - b2) * g * g;
            p -= lr * (m / (1 - Math.Pow(b1, t))) / (Math.Sqrt(v / (1 - Math.Pow(b2, t))) + eps);
            trace[t - 1] = p;
        }
        return trace;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AdamW_MatchesTorchUpdateRule_WithAndWithoutDecay(bool decay)
    {
        var grads = new[] { 0.3, -1.2, 0.05, 2.0, -0.7 };
        var p = Tensor.FromArray(CpuBackend.Instance, [1], new[] { 0.8 });
        p.RequiresGrad = true;
        var opt = new AdamW([("p", p, decay)], weightDecay: 0.1);
        var expected = Reference(0.8, grads, lr: 0.01, wd: decay ? 0.1 : 0);
        for (int t = 0; t < grads.Length; t++)
        {
            p.Grad = Tensor.FromArray(CpuBackend.Instance, [1], new[] { grads[t] });
            opt.Update(0.01);
            Assert.Null(p.Grad);
            Assert.Equal(expected[t], p.Item(), 1e-14);
        }
        Assert.Equal(grads.Length, opt.Step);
    }

    [Fact]
    public void GlobalNormClipping_ScalesAllGradientsTogether()
    {
        var a = Tensor.FromArray(CpuBackend.Instance, [2], new[] { 1.0, 1.0 });
        var b = Tensor.FromArray(CpuBackend.Instance, [1], new[] { 1.0 });
        a.Grad = Tensor.FromArray(CpuBackend.Instance, [2], new[] { 3.0, 0.0 });
        b.Grad = Tensor.FromArray(CpuBackend.Instance, [1], new[] { 4.0 });
        double norm = GradientClipping.Norm(GradientClipping.ClipByGlobalNorm([a, b], maxNorm: 1.0));
        Assert.Equal(5.0, norm, 12);
        Assert.Equal(0.6, a.Grad.ToArray<double>()[0], 5);
        Assert.Equal(0.8, b.Grad.ToArray<double>()[0], 5);

        double unclipped = GradientClipping.Norm(GradientClipping.ClipByGlobalNorm([a, b], maxNorm: 10.0));
        Assert.Equal(1.0, unclipped, 5);
        Assert.Equal(0.6, a.Grad.ToArray<double>()[0], 5);
    }
}
