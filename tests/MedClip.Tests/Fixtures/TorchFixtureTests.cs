using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.IO;
using MedClip.Losses;
using MedClip.Nn;
using MedClip.Tensors;
using Xunit.Abstractions;
using static MedClip.Tests.Fixtures.TorchFixture;

namespace MedClip.Tests.Fixtures;

/// <summary>
/// Our float32 CPU forward and backward against the float64 PyTorch reference written by
/// tools/reference/make_fixtures.py, tensor by tensor (<see cref="TorchFixture"/>). Layer norm's is in LayerNormTests.
/// </summary>
public sealed class TorchFixtureTests(ITestOutputHelper output)
{
    /// <summary>The fixtures' layer: hidden 24, 3 heads, intermediate 40, erf GELU, eps 1e-12.</summary>
    private static TransformerConfig BlockConfig(SafetensorsFile f) => new(
        Width: int.Parse(f.Metadata["hidden_size"]),
        Heads: int.Parse(f.Metadata["num_attention_heads"]),
        IntermediateSize: int.Parse(f.Metadata["intermediate_size"]),
        Activation: Ops.ParseActivation(f.Metadata["hidden_act"]),
        LayerNormEps: double.Parse(f.Metadata["layer_norm_eps"]));

    [Fact]
    public void GeluErf_MatchesTorch() => AssertActivationMatches("gelu_erf.safetensors", Activation.GeluErf);

    [Fact]
    public void GeluTanh_MatchesTorch() => AssertActivationMatches("gelu_tanh.safetensors", Activation.GeluTanh);

    [Fact]
    public void QuickGelu_MatchesTorch() => AssertActivationMatches("quick_gelu.safetensors", Activation.QuickGelu);

    [Fact]
    public void InfoNce_MatchesTorch() => AssertInfoNceMatches("infonce.safetensors");

    [Fact]
    public void FusedInfoNce_MatchesTorch() => AssertInfoNceMatches("infonce.safetensors", fused: true);

    /// <summary>logit_scale = 5 > ln 100: the scale is clamped at 100 and its gradient is exactly zero.</summary>
    [Fact]
    public void InfoNce_ClampedLogitScale_MatchesTorch() => AssertInfoNceMatches("infonce_clamped.safetensors");

    [Fact]
    public void FusedInfoNce_ClampedLogitScale_MatchesTorch() => AssertInfoNceMatches("infonce_clamped.safetensors", fused: true);

    [Fact]
    public void PreLnBlock_MatchesTorchViTLayer()
    {
        SafetensorsFile f = Load("block_preln.safetensors");
        var layer = new PreNormLayer(new Init(Cpu, DType.F32, seed: 0), BlockConfig(f));
        AssertBlockMatches(f, layer, (x, mask) => layer.Forward(x, mask), "attention.attention.key.bias", "attention.attention.key.weight");
    }

    [Fact]
    public void PostLnBlock_MatchesTorchBertLayer()
    {
        SafetensorsFile f = Load("block_postln.safetensors");
        var layer = new PostNormLayer(new Init(Cpu, DType.F32, seed: 0), BlockConfig(f));
        AssertBlockMatches(f, layer, layer.Forward, "attention.self.key.bias", "attention.self.key.weight");
    }

    /// <summary>
    /// Loads every parameter from "param.{HF name}" (the names must match the fixture's exactly), runs the layer with
    /// the padding mask, backpropagates dy and compares y, grad.x and every "grad.param.{HF name}".
    /// The key bias's gradient is zero in exact arithmetic (q·b_k shifts a whole row of scores, and softmax ignores
    /// shifts), so both sides hold rounding noise; its error is measured against the key weight's gradient.
    /// </summary>
    private void AssertBlockMatches(SafetensorsFile f, Module layer, Func<Tensor, Tensor?, Tensor> forward, string keyBias, string keyWeight)
    {
        var parameters = layer.NamedParameters().ToList();
        Assert.Equal(
            f.Tensors.Keys.Where(k => k.StartsWith("param.", StringComparison.Ordinal)).Select(k => k["param.".Length..]).Order(StringComparer.Ordinal),
            parameters.Select(p => p.Name).Order(StringComparer.Ordinal));
        foreach ((string name, Tensor parameter) in parameters)
        {
            Tensor stored = Input(f, "param." + name, requiresGrad: false);
            Assert.Equal(stored.Shape, parameter.Shape);
            Cpu.CopyFromHost<float>(stored.ToArray<float>(), parameter.Storage);
        }
        Tensor x = Input(f, "x");

        Tensor y = forward(x, Input(f, "mask", requiresGrad: false));
        y.Backward(Input(f, "dy", requiresGrad: false));

        AssertClose(f, "y", y);
        AssertClose(f, "grad.x", x.Grad);
        double keyWeightScale = f["grad.param." + keyWeight].ToFloat32().Max(MathF.Abs);
        foreach ((string name, Tensor parameter) in parameters)
            AssertClose(f, "grad.param." + name, parameter.Grad, scale: name == keyBias ? keyWeightScale : null);
    }

    private void AssertActivationMatches(string fixture, Activation kind)
    {
        SafetensorsFile f = Load(fixture);
        Tensor x = Input(f, "x");

        Tensor y = Ops.Activate(x, kind);
        y.Backward(Input(f, "dy", requiresGrad: false));

        AssertClose(f, "y", y);
        AssertClose(f, "grad.x", x.Grad);
    }

    /// <summary>The dual encoder's loss on raw embeddings: L2-normalise both, then symmetric InfoNCE.</summary>
    private void AssertInfoNceMatches(string fixture, bool fused = false)
    {
        SafetensorsFile f = Load(fixture);
        Tensor image = Input(f, "image"), text = Input(f, "text"), logitScale = Input(f, "logit_scale");

        Tensor loss = InfoNceLoss.Compute(Ops.L2Normalize(image), Ops.L2Normalize(text), logitScale, fused);
        loss.Backward();

        AssertClose(f, "loss", loss);
        AssertClose(f, "grad.image", image.Grad);
        AssertClose(f, "grad.text", text.Grad);
        AssertClose(f, "grad.logit_scale", logitScale.Grad);
    }

    private void AssertClose(SafetensorsFile f, string name, Tensor? ours, double? scale = null) => TorchFixture.AssertClose(output, f, name, ours, scale);
}
