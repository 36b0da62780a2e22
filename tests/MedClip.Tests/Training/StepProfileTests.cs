using MedClip.Autograd;
using MedClip.Backends.Cpu;
using MedClip.Models;
using MedClip.Tensors;
using MedClip.Training;

namespace MedClip.Tests.Training;

public class StepProfileTests
{
    [Fact]
    public void TimedBackend_ForwardsEveryCallAndCountsIt()
    {
        var timed = new TimedCpuBackend(CpuBackend.Instance);
        var a = Tensor.FromArray(timed, [2, 3], new float[] { 1, -2, 3, 0.5f, 4, -1 });
        var w = Tensor.FromArray(timed, [4, 3], Enumerable.Range(0, 12).Select(i => 0.1f * i - 0.5f).ToArray());
        w.RequiresGrad = true;
        var y = Ops.Activate(Ops.MatMul(a, w, transB: true), MedClip.Backends.Activation.GeluErf);

        var plainA = Tensor.FromArray(CpuBackend.Instance, [2, 3], a.ToArray<float>());
        var plainW = Tensor.FromArray(CpuBackend.Instance, [4, 3], w.ToArray<float>());
        var expected = Ops.Activate(Ops.MatMul(plainA, plainW, transB: true), MedClip.Backends.Activation.GeluErf);

        // The results are the inner backend's, and the tensors made on the way dispatch back through the decorator.
        Assert.Equal(expected.ToArray<float>(), y.ToArray<float>());
        Assert.Same(timed, y.Backend);
        var times = timed.Times();
        Assert.Equal(1, times["Gemm NT 2x4x3"].Calls);
        Assert.Equal(1, times["ActivationForward GeluErf"].Calls);
        // The inputs are zero-filled, the GEMM's and the activation's outputs written whole.
        Assert.Equal((6 + 12) * sizeof(float), times["Allocate"].Bytes);
        Assert.Equal((8 + 8) * sizeof(float), times["Allocate uninitialized"].Bytes);

        timed.Reset();
        Assert.Empty(timed.Times());
    }

    [Fact]
    public void Tiny_ProfilesEveryCategoryOfTheStep()
    {
        var profile = StepProfile.Run(CpuBackend.Instance, ModelPresets.Get("tiny"), batchSize: 2, steps: 1);

        var categories = profile.Ops.Select(o => o.Category).ToHashSet();
        foreach (string expected in new[] { "GEMM, linear layers", "GEMM, attention (batched)", "attention softmax", "layer norm",
            "GELU, tanh (with bias)", "embedding", "InfoNCE (L2 norm, logit scale, loss)", "optimizer (clip, AdamW)", "allocation (arrays, pool)" })
            Assert.Contains(expected, categories);
        Assert.DoesNotContain("elementwise and copies", profile.Ops.Where(o => o.Op.StartsWith("Gemm")).Select(o => o.Category));
        // Two towers of four layers: one fused bias + GELU forward per MLP.
        Assert.Equal(8, profile.Ops.Single(o => o.Op == "BiasActivationForward GeluErf").CallsPerStep);
        Assert.True(profile.AllocatedBytesPerStep > 0 && profile.MeanStepMs > 0);
        Assert.True(profile.Ops.Sum(o => o.MsPerStep) <= profile.MeanStepMs);
        string table = profile.ToMarkdown();
        Assert.Contains("| category | ms per step | share |", table);
        Assert.Contains("| Gemm NT 130x128x128 |", table);
    }

    [Theory]
    [InlineData("Gemm NN 2080x128x512 +=", "GEMM, linear layers")]
    [InlineData("Gemm NT 65x65x32 batch 128", "GEMM, attention (batched)")]
    [InlineData("Permute +=", "permutes (head split/merge, patches)")]
    [InlineData("AddLayerNormBackward", "layer norm")]
    [InlineData("Axpy", "elementwise and copies")]
    public void Category_GroupsOpNames(string op, string category) => Assert.Equal(category, StepProfile.Category(op));
}
