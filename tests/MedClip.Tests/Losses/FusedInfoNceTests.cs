using MedClip.Autograd;
using MedClip.Backends.Cpu;
using MedClip.Losses;
using MedClip.Tensors;

namespace MedClip.Tests.Losses;

public class FusedInfoNceTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(40)]
    public void FusedLossAndGradient_EqualTheTwoCrossEntropies_InF64(int n)
    {
        var rng = new Random(n);
        var values = Enumerable.Range(0, n * n).Select(_ => (rng.NextDouble() * 2 - 1) * 20).ToArray();
        var initialGrad = Enumerable.Range(0, n * n).Select(_ => rng.NextDouble()).ToArray();
        (double Loss, double[] Grad) Run(bool fused)
        {
            var logits = Tensor.FromArray(CpuBackend.Instance, [n, n], values);
            logits.RequiresGrad = true;
            logits.Grad = Tensor.FromArray(CpuBackend.Instance, [n, n], (double[])initialGrad.Clone()); // backward adds (+=)
            var loss = fused ? Ops.InfoNce(logits) : InfoNceLoss.FromLogits(logits);
            double value = loss.Item();
            loss.Backward(Tensor.FromArray(CpuBackend.Instance, new Shape(), new[] { 0.37 }));
            return (value, logits.Grad.ToArray<double>());
        }
        var (expectedLoss, expectedGrad) = Run(fused: false);
        var (loss, grad) = Run(fused: true);
        Assert.Equal(expectedLoss, loss, 1e-12);
        for (int i = 0; i < grad.Length; i++) Assert.Equal(expectedGrad[i], grad[i], 1e-13);
    }

    [Fact]
    public void NonSquareLogits_AreRejectedWithOneSentence()
    {
        var logits = Tensor.Zeros(CpuBackend.Instance, [3, 4]);
        var e = Assert.Throws<ArgumentException>(() => Ops.InfoNce(logits));
        Assert.Contains("must be square", e.Message);
    }
}
