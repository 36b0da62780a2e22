using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using static MedClip.Tests.Autograd.GradientChecker;

namespace MedClip.Tests.Nn;

/// <summary>
/// The bottleneck adapter: its gradients in double, its parameter names in each tower, and a model whose adapters'
/// up-projections are zero computing exactly what the same model without adapters computes.
/// </summary>
public class AdapterTests
{
    private static readonly CpuBackend Cpu = CpuBackend.Instance;

    private static TransformerConfig Layer(Activation act) => new(Width: 8, Heads: 2, IntermediateSize: 12, act, LayerNormEps: 1e-12, InitializerRange: 0.4);

    /// <summary>Overwrites a double parameter with uniform values in [-scale, scale].</summary>
    internal static void Randomize(Tensor parameter, int seed, double scale = 0.5)
    {
        var rng = new Random(seed);
        var data = ((CpuStorage<double>)parameter.Storage).Data;
        for (int i = 0; i < data.Length; i++) data[i] = scale * (2 * rng.NextDouble() - 1);
    }

    [Fact]
    public void Adapter_InputAndEveryParameter_MatchFiniteDifferences()
    {
        var adapter = new Adapter(new Init(Cpu, DType.F64, 1), width: 7, dim: 3, std: 0.5);
        // The near-zero start would leave the down-projection's gradient tiny; probe a trained-looking adapter.
        Randomize(adapter.Up.Weight, 2);
        Randomize(adapter.Up.Bias!, 3);
        Randomize(adapter.Down.Bias!, 4);
        var z = Random(new Random(5), [2, 5, 7]);
        Check(() => adapter.Forward(z), [z, .. adapter.Parameters()]);
    }

    [Fact]
    public void Adapter_StartsNearTheIdentity()
    {
        var adapter = new Adapter(new Init(Cpu, DType.F64, 1), width: 16, dim: 4, std: 0.02);
        Assert.True(adapter.Up.Weight.ToArray<double>().Max(Math.Abs) < 10 * Adapter.UpStd);
        Assert.All(adapter.Up.Bias!.ToArray<double>(), b => Assert.Equal(0, b));
        var z = Random(new Random(2), [3, 16], requiresGrad: false);
        var y = adapter.Forward(z).ToArray<double>();
        Assert.All(y.Zip(z.ToArray<double>()), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-3, $"{p.First} vs {p.Second}"));
    }

    [Fact]
    public void Adapter_NonPositiveDimension_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new Adapter(new Init(Cpu, DType.F64, 1), width: 8, dim: 0, std: 0.02));

    private static DualEncoder Model(int adapterDim, VisionModelType vision = VisionModelType.Vit, DType dtype = DType.F32)
    {
        var layer = Layer(vision == VisionModelType.ClipVision ? Activation.QuickGelu : Activation.GeluErf);
        var config = new DualEncoderConfig(new VisionConfig(ImageSize: 8, PatchSize: 4, Channels: 3, Layers: 2, layer, vision),
            new TextConfig(VocabSize: 13, MaxPositions: 7, TypeVocabSize: 2, Layers: 2, layer), ProjectionDim: 6, LogitScaleInit: 1.0, AdapterDim: adapterDim);
        return new DualEncoder(new Init(Cpu, dtype, 5), config);
    }

    [Fact]
    public void AdapterNames_SitBesideTheSubLayerTheyAdapt_InEveryTower()
    {
        var vit = Model(3).NamedParameters().Select(p => p.Name).Where(n => n.Contains(".adapter.")).ToList();
        var clip = Model(3, VisionModelType.ClipVision).NamedParameters().Select(p => p.Name).Where(n => n.Contains(".adapter.")).ToList();
        // 2 layers x 2 adapters x 4 tensors per tower.
        Assert.Equal(32, vit.Count);
        Assert.Equal(32, clip.Count);
        foreach (var name in new[]
        {
            "vision_model.encoder.layer.1.attention.output.adapter.down.weight",
            "vision_model.encoder.layer.1.output.adapter.up.bias",
            "text_model.encoder.layer.0.attention.output.adapter.up.weight",
            "text_model.encoder.layer.1.output.adapter.down.bias",
        })
        {
            Assert.Contains(name, vit);
        }
        Assert.Contains("vision_model.vision_model.encoder.layers.0.self_attn.adapter.down.weight", clip);
        Assert.Contains("vision_model.vision_model.encoder.layers.1.mlp.adapter.up.weight", clip);
    }

    [Theory]
    [InlineData(VisionModelType.Vit)]
    [InlineData(VisionModelType.ClipVision)]
    public void ZeroUpProjections_GiveExactlyTheOutputsOfTheModelWithoutAdapters(VisionModelType vision)
    {
        var plain = Model(0, vision);
        var adapted = Model(4, vision);
        var shared = plain.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor.ToArray<float>());
        foreach (var (name, tensor) in adapted.NamedParameters())
        {
            if (shared.TryGetValue(name, out var values)) Assert.Equal(values, tensor.ToArray<float>());
            else if (name.Contains(".adapter.up.")) Cpu.Fill(tensor, 0);
            else Assert.Contains(".adapter.down.", name);
        }
        var pixels = Tensor.FromArray(Cpu, [3, 3, 8, 8], Enumerable.Range(0, 3 * 3 * 64).Select(i => MathF.Sin(i * 0.37f)).ToArray());
        var ids = Tensor.FromArray(Cpu, [3, 5], new[] { 2, 7, 7, 12, 3, 2, 5, 1, 3, 0, 2, 9, 3, 0, 0 });
        var mask = Tensor.FromArray(Cpu, [3, 5], new[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0 });
        using var noGrad = GradMode.Disable();
        Assert.Equal(plain.EncodeImages(pixels).ToArray<float>(), adapted.EncodeImages(pixels).ToArray<float>());
        Assert.Equal(plain.EncodeTexts(ids, mask).ToArray<float>(), adapted.EncodeTexts(ids, mask).ToArray<float>());
        Assert.Equal(plain.Loss(pixels, ids, mask).Item(), adapted.Loss(pixels, ids, mask).Item());
    }

    [Fact]
    public void DualEncoderWithAdapters_LossWithRespectToEveryAdapterAndNorm()
    {
        var model = Model(3, dtype: DType.F64);
        var ups = model.NamedParameters().Where(p => p.Name.Contains(".adapter.up.")).ToList();
        for (int i = 0; i < ups.Count; i++) Randomize(ups[i].Tensor, 10 + i);
        var pixels = Random(new Random(6), [3, 3, 8, 8], requiresGrad: false);
        var ids = Ints([3, 5], 2, 7, 7, 12, 3, 2, 5, 1, 3, 0, 2, 9, 3, 0, 0);
        var mask = Ints([3, 5], 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0);
        var checkedParameters = model.NamedParameters().Where(p => p.Name.Contains(".adapter.") || p.Name.Contains("LayerNorm") || p.Name.Contains("layernorm"))
            .Select(p => p.Tensor).ToArray();
        Assert.Equal(2 * 2 * 2 * 4, model.NamedParameters().Count(p => p.Name.Contains(".adapter.")));
        Check(() => model.Loss(pixels, ids, mask), checkedParameters, maxProbesPerInput: 5);
    }
}
