using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.IO;
using MedClip.Losses;
using MedClip.Nn;
using MedClip.Tensors;
using Xunit.Abstractions;

namespace MedClip.Tests.Fixtures;

/// <summary>
/// Our float32 CPU forward and backward against the float64 PyTorch reference written by
/// tools/reference/make_fixtures.py, tensor by tensor: max|ours - ref| / max|ref| must stay below 1e-5.
/// Gradients are those of (y * dy).sum() with the fixture's dy, or of the scalar loss.
/// </summary>
public sealed class TorchFixtureTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;

    private static IBackend Cpu => CpuBackend.Instance;

    /// <summary>The fixtures' layer: hidden 24, 3 heads, intermediate 40, erf GELU, eps 1e-12.</summary>
    private static TransformerConfig BlockConfig(SafetensorsFile f) => new(
        Width: int.Parse(f.Metadata["hidden_size"]),
        Heads: int.Parse(f.Metadata["num_attention_heads"]),
        IntermediateSize: int.Parse(f.Metadata["intermediate_size"]),
        Activation: Ops.ParseActivation(f.Metadata["hidden_act"]),
        LayerNormEps: double.Parse(f.Metadata["layer_norm_eps"]));

    [Fact]
    public void LayerNorm_MatchesTorch()
    {
        SafetensorsFile f = Load("layernorm.safetensors");
        Tensor x = Input(f, "x"), weight = Input(f, "weight"), bias = Input(f, "bias");

        Tensor y = Ops.LayerNorm(x, weight, bias, double.Parse(f.Metadata["eps"]));
        y.Backward(Input(f, "dy", requiresGrad: false));

        AssertClose(f, "y", y);
        AssertClose(f, "grad.x", x.Grad);
        AssertClose(f, "grad.weight", weight.Grad);
        AssertClose(f, "grad.bias", bias.Grad);
    }

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

    private static SafetensorsFile Load(string name) =>
        SafetensorsFile.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));

    /// <summary>The fixture tensor as a float32 CPU tensor (I32 for masks), a gradient-tracking leaf unless told otherwise.</summary>
    private static Tensor Input(SafetensorsFile f, string name, bool requiresGrad = true)
    {
        SafetensorsTensor stored = f[name];
        Shape shape = stored.Shape.Select(d => checked((int)d)).ToArray();
        Tensor tensor = stored.DType == SafetensorsDType.I32
            ? Tensor.FromArray(Cpu, shape, stored.ToInt32())
            : Tensor.FromArray(Cpu, shape, stored.ToFloat32());
        tensor.Name = name;
        tensor.RequiresGrad = requiresGrad;
        return tensor;
    }

    /// <summary>
    /// max|ours - ref| / scale below the tolerance, where scale is max|ref| unless given. A reference that is
    /// exactly zero must be matched exactly.
    /// </summary>
    private void AssertClose(SafetensorsFile f, string name, Tensor? ours, double? scale = null)
    {
        Assert.True(ours is not null, $"{name}: we computed no tensor (no gradient reached it).");
        SafetensorsTensor reference = f[name];
        Assert.True(reference.Shape.SequenceEqual(ours.Shape.ToArray().Select(d => (long)d)),
            $"{name}: our shape {ours.Shape} differs from the reference's [{string.Join(", ", reference.Shape)}].");
        float[] expected = reference.ToFloat32(), actual = ours.ToArray<float>();
        double maxError = 0, maxReference = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxError = Math.Max(maxError, Math.Abs((double)actual[i] - expected[i]));
            maxReference = Math.Max(maxReference, Math.Abs((double)expected[i]));
        }
        double denominator = scale ?? maxReference;
        if (denominator == 0)
        {
            Assert.True(maxError == 0, $"{name}: the reference is exactly zero but ours reaches {maxError:E3}.");
            return;
        }
        double relative = maxError / denominator;
        output.WriteLine($"{f.Path}: {name} relative error {relative:E2}");
        Assert.True(relative < Tolerance,
            $"{name}: relative error {relative:E3} (max |ours - ref| = {maxError:E3}, scale {denominator:E3}) is not below {Tolerance:E0}.");
    }
}
