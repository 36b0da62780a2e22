using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Diagnostics;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Tests.Nn;

/// <summary>
/// The transformer layers, which use the fused ops (linear + activation, residual add + layer norm), against the same
/// layers written with the unfused ops, on the CPU in F32 at the tiny preset's width: the output and every gradient
/// bit for bit, except the MLP's first bias, whose gradient the fused backward sums over the rows in another order (so
/// a CPU training run computes the same first step as before the fusion and departs from it by that rounding).
/// </summary>
public class FusedLayerTests
{
    private static readonly CpuBackend Cpu = CpuBackend.Instance;

    private static TransformerConfig Config(Activation activation) => new(Width: 128, Heads: 4, IntermediateSize: 512, activation, LayerNormEps: 1e-12);

    [Theory]
    [InlineData(Activation.GeluErf)]
    [InlineData(Activation.QuickGelu)]
    public void PreNormLayer_MatchesTheUnfusedLayer(Activation activation)
    {
        var layer = new PreNormLayer(new Init(Cpu, DType.F32, 1), Config(activation));
        AssertSameAsUnfused(layer, x => layer.Forward(x, null), x =>
        {
            var h = Ops.Add(x, layer.AttentionOutput.Forward(layer.Attention.Forward(layer.LayerNormBefore.Forward(x), null)));
            var mlp = layer.Output.Forward(Ops.Activate(layer.Intermediate.Forward(layer.LayerNormAfter.Forward(h)), activation));
            return Ops.Add(h, mlp);
        });
    }

    [Theory]
    [InlineData(Activation.GeluErf)]
    [InlineData(Activation.GeluTanh)]
    public void PostNormLayer_MatchesTheUnfusedLayer(Activation activation)
    {
        var layer = new PostNormLayer(new Init(Cpu, DType.F32, 2), Config(activation));
        var mask = Tensor.FromArray(Cpu, [2, 65], Enumerable.Range(0, 130).Select(i => i % 65 < (i < 65 ? 65 : 40) ? 1 : 0).ToArray());
        AssertSameAsUnfused(layer, x => layer.Forward(x, mask), x =>
        {
            var a = layer.AttentionLayerNorm.Forward(Ops.Add(x, layer.AttentionOutput.Forward(layer.Attention.Forward(x, mask))));
            var mlp = layer.Output.Forward(Ops.Activate(layer.Intermediate.Forward(a), activation));
            return layer.OutputLayerNorm.Forward(Ops.Add(a, mlp));
        });
    }

    // Random parameters (not HF's zero biases and unit norms, which would hide a misplaced bias or gamma), two sequences
    // of 65 tokens; both versions run forward and backward from the same dy.
    private static void AssertSameAsUnfused(Module layer, Func<Tensor, Tensor> fused, Func<Tensor, Tensor> unfused)
    {
        var rng = new Random(3);
        float[] Draw(long n, double scale) => Enumerable.Range(0, (int)n).Select(_ => (float)(scale * (rng.NextDouble() * 2 - 1))).ToArray();
        var parameters = layer.NamedParameters().ToArray();
        foreach (var (_, p) in parameters) Cpu.CopyFromHost<float>(Draw(p.Length, p.Rank == 1 ? 1 : 0.1), p.Storage);
        var x = Tensor.FromArray(Cpu, [2, 65, 128], Draw(2 * 65 * 128, 1));
        x.RequiresGrad = true;
        var dy = Tensor.FromArray(Cpu, [2, 65, 128], Draw(2 * 65 * 128, 1));

        (float[] Output, Dictionary<string, double[]> Gradients) Run(Func<Tensor, Tensor> forward)
        {
            x.Grad = null;
            foreach (var (_, p) in parameters) p.Grad = null;
            var y = forward(x);
            y.Backward(dy);
            var gradients = parameters.ToDictionary(p => p.Name, p => Array.ConvertAll(p.Tensor.Grad!.ToArray<float>(), v => (double)v));
            gradients["x"] = Array.ConvertAll(x.Grad!.ToArray<float>(), v => (double)v);
            return (y.ToArray<float>(), gradients);
        }

        var expected = Run(unfused);
        var actual = Run(fused);
        Assert.Equal(expected.Output, actual.Output);
        foreach (var (name, gradient) in expected.Gradients)
        {
            if (name != "intermediate.dense.bias")
            {
                Assert.True(gradient.SequenceEqual(actual.Gradients[name]), $"{name} differs from the unfused layer's");
                continue;
            }
            double error = BackendSelfTest.RelativeError(actual.Gradients[name], gradient);
            Assert.True(error <= 1e-6, $"{name}: relative error {error:E2}");
        }
    }
}
