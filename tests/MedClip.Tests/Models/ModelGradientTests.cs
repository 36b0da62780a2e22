using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using static MedClip.Tests.Autograd.GradientChecker;

namespace MedClip.Tests.Models;

/// <summary>Whole layers and the whole dual encoder against finite differences in double, every parameter probed.</summary>
public class ModelGradientTests
{
    private static TransformerConfig Layer(Activation act) => new(Width: 8, Heads: 2, IntermediateSize: 12, act, LayerNormEps: 1e-12, InitializerRange: 0.4);

    [Fact]
    public void PreNormLayer_ViTLayer_EveryParameter()
    {
        var layer = new PreNormLayer(new Init(CpuBackend.Instance, DType.F64, 1), Layer(Activation.GeluErf));
        var x = Random(new Random(2), [2, 5, 8]);
        var mask = Ints([2, 5], 1, 1, 1, 1, 1, 1, 1, 1, 0, 0);
        CheckExceptKeyBias(() => layer.Forward(x, mask), x, layer.NamedParameters());
    }

    [Fact]
    public void PostNormLayer_BertLayer_EveryParameter()
    {
        var layer = new PostNormLayer(new Init(CpuBackend.Instance, DType.F64, 3), Layer(Activation.GeluTanh));
        var x = Random(new Random(4), [2, 5, 8]);
        var mask = Ints([2, 5], 1, 1, 1, 0, 0, 1, 1, 1, 1, 1);
        CheckExceptKeyBias(() => layer.Forward(x, mask), x, layer.NamedParameters());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PreNormLayer_WithAdapters_EveryParameter(bool clipNames)
    {
        var init = new Init(CpuBackend.Instance, DType.F64, 11);
        var layer = new PreNormLayer(init, Layer(Activation.QuickGelu), clipNames ? PreNormLayerNames.Clip : PreNormLayerNames.Vit);
        layer.AddAdapters(init, 3);
        RandomizeUpProjections(layer);
        var x = Random(new Random(12), [2, 5, 8]);
        var mask = Ints([2, 5], 1, 1, 1, 1, 1, 1, 1, 1, 0, 0);
        CheckExceptKeyBias(() => layer.Forward(x, mask), x, layer.NamedParameters());
    }

    [Fact]
    public void PostNormLayer_WithAdapters_EveryParameter()
    {
        var init = new Init(CpuBackend.Instance, DType.F64, 13);
        var layer = new PostNormLayer(init, Layer(Activation.GeluErf));
        layer.AddAdapters(init, 3);
        RandomizeUpProjections(layer);
        var x = Random(new Random(14), [2, 5, 8]);
        var mask = Ints([2, 5], 1, 1, 1, 0, 0, 1, 1, 1, 1, 1);
        CheckExceptKeyBias(() => layer.Forward(x, mask), x, layer.NamedParameters());
    }

    // A fresh adapter's near-zero up-projection would leave its down-projection's gradient tiny; probe trained-looking ones.
    private static void RandomizeUpProjections(Module layer)
    {
        var ups = layer.NamedParameters().Where(p => p.Name.Contains(".adapter.up.")).ToList();
        Assert.Equal(4, ups.Count);
        for (int i = 0; i < ups.Count; i++) MedClip.Tests.Nn.AdapterTests.Randomize(ups[i].Tensor, 20 + i);
    }

    [Fact]
    public void DualEncoder_TwoLayerViTAndBert_LossWithRespectToEveryParameter()
    {
        var vision = new VisionConfig(ImageSize: 8, PatchSize: 4, Channels: 3, Layers: 2, Layer(Activation.GeluErf));
        var text = new TextConfig(VocabSize: 13, MaxPositions: 7, TypeVocabSize: 2, Layers: 2, Layer(Activation.GeluErf));
        var model = new DualEncoder(new Init(CpuBackend.Instance, DType.F64, 5), new DualEncoderConfig(vision, text, ProjectionDim: 6, LogitScaleInit: 1.0));
        var pixels = Random(new Random(6), [3, 3, 8, 8], requiresGrad: false);
        var ids = Ints([3, 5], 2, 7, 7, 12, 3, 2, 5, 1, 3, 0, 2, 9, 3, 0, 0);
        var mask = Ints([3, 5], 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0);

        var parameters = model.NamedParameters().ToArray();
        Assert.Contains(parameters, p => p.Name == "vision_model.encoder.layer.1.attention.attention.query.weight");
        Assert.Contains(parameters, p => p.Name == "text_model.encoder.layer.1.output.LayerNorm.bias");
        Assert.Contains(parameters, p => p.Name == "logit_scale");
        // token_type_embeddings row 1 is never used by single-segment text, so that table is checked without the
        // non-zero requirement below.
        var tokenTypes = parameters.Single(p => p.Name == "text_model.embeddings.token_type_embeddings.weight").Tensor;
        CheckExceptKeyBias(() => model.Loss(pixels, ids, mask), null, parameters.Where(p => p.Tensor != tokenTypes), maxProbes: 6);
        Check(() => model.Loss(pixels, ids, mask), [tokenTypes], maxProbesPerInput: 16);
    }

    [Fact]
    public void DualEncoder_ClipVisionTower_HfNamesAndEveryParameter()
    {
        var vision = new VisionConfig(ImageSize: 8, PatchSize: 4, Channels: 3, Layers: 1, Layer(Activation.QuickGelu), VisionModelType.ClipVision);
        var text = new TextConfig(VocabSize: 11, MaxPositions: 5, TypeVocabSize: 2, Layers: 1, Layer(Activation.GeluErf));
        var model = new DualEncoder(new Init(CpuBackend.Instance, DType.F64, 8), new DualEncoderConfig(vision, text, ProjectionDim: 5, LogitScaleInit: 1.0));
        var names = model.NamedParameters().Select(p => p.Name).ToHashSet();
        foreach (var expected in new[]
        {
            "vision_model.vision_model.embeddings.class_embedding",
            "vision_model.vision_model.embeddings.patch_embedding.weight",
            "vision_model.vision_model.embeddings.position_embedding.weight",
            "vision_model.vision_model.pre_layrnorm.weight",
            "vision_model.vision_model.encoder.layers.0.self_attn.q_proj.weight",
            "vision_model.vision_model.encoder.layers.0.self_attn.out_proj.bias",
            "vision_model.vision_model.encoder.layers.0.layer_norm2.bias",
            "vision_model.vision_model.encoder.layers.0.mlp.fc2.weight",
            "vision_model.vision_model.post_layernorm.weight",
        })
        {
            Assert.Contains(expected, names);
        }
        Assert.DoesNotContain(names, n => n.Contains("patch_embedding.bias"));
        var pixels = Random(new Random(9), [3, 3, 8, 8], requiresGrad: false);
        var ids = Ints([3, 4], 2, 7, 3, 0, 2, 5, 1, 3, 2, 9, 0, 0);
        var mask = Ints([3, 4], 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0);
        var tokenTypes = model.NamedParameters().Single(p => p.Name.EndsWith("token_type_embeddings.weight")).Tensor;
        CheckExceptKeyBias(() => model.Loss(pixels, ids, mask), null, model.NamedParameters().Where(p => p.Tensor != tokenTypes), maxProbes: 5);
    }

    [Fact]
    public void DualEncoder_ClipTextTower_HfNamesAndEveryParameter()
    {
        var vision = new VisionConfig(ImageSize: 8, PatchSize: 4, Channels: 3, Layers: 1, Layer(Activation.QuickGelu), VisionModelType.ClipVision);
        var text = new TextConfig(VocabSize: 11, MaxPositions: 6, TypeVocabSize: 0, Layers: 2, Layer(Activation.QuickGelu), TextModelType.ClipText,
            EosTokenId: 10);
        var model = new DualEncoder(new Init(CpuBackend.Instance, DType.F64, 10), new DualEncoderConfig(vision, text, ProjectionDim: 5, LogitScaleInit: 1.0));
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        Assert.Equal(
        [
            "text_model.text_model.embeddings.token_embedding.weight",
            "text_model.text_model.embeddings.position_embedding.weight",
            "text_model.text_model.encoder.layers.0.layer_norm1.weight",
        ], names.Where(n => n.StartsWith("text_model.")).Take(3));
        Assert.Contains("text_model.text_model.encoder.layers.1.mlp.fc2.bias", names);
        Assert.Contains("text_model.text_model.final_layer_norm.weight", names);
        var pixels = Random(new Random(11), [3, 3, 8, 8], requiresGrad: false);
        // <|startoftext|> 9 ... <|endoftext|> 10, padded with 10 (OpenAI's pad) or 0; pooled at 3, 5 and 2.
        var ids = Ints([3, 6], 9, 4, 7, 10, 10, 10, 9, 3, 3, 5, 6, 10, 9, 1, 10, 0, 0, 0);
        var mask = Ints([3, 6], 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0);
        CheckExceptKeyBias(() => model.Loss(pixels, ids, mask), null, model.NamedParameters(), maxProbes: 6);
    }

    [Fact]
    public void ClipTextPooling_LegacyArgmaxOnlyWhenEveryMaximumIsOpenAisEndOfText()
    {
        const int eot = ClipTextTransformer.OpenAiEndOfTextId;
        // Every row's highest id is 49407: the first 49407, whatever eos_token_id says (transformers' legacy path).
        Assert.Equal([2, 1], ClipTextTransformer.EndOfTextPositions([49406, 5, eot, eot, 49406, eot, 0, 0], 2, 4, eosTokenId: 2));
        // One row without 49407: the first eos_token_id of each row, 0 where a row has none.
        Assert.Equal([1, 0], ClipTextTransformer.EndOfTextPositions([49406, 2, eot, 2, 49406, 7, 8, 9], 2, 4, eosTokenId: 2));
        Assert.Equal([3, 2], ClipTextTransformer.EndOfTextPositions([7, 1, 2, 11, 7, 3, 11, 11], 2, 4, eosTokenId: 11));
    }

    // softmax(q.(k + b)) = softmax(q.k) per query, so the key projection's bias has an exactly zero gradient and its
    // finite differences are pure rounding noise: assert the zero instead of a relative error.
    private static void CheckExceptKeyBias(Func<Tensor> f, Tensor? input, IEnumerable<(string Name, Tensor Tensor)> parameters, int maxProbes = 12)
    {
        var all = parameters.ToArray();
        static bool IsKeyBias(string name) => name.EndsWith("key.bias") || name.EndsWith("k_proj.bias");
        var keyBiases = all.Where(p => IsKeyBias(p.Name)).Select(p => p.Tensor).ToArray();
        Assert.NotEmpty(keyBiases);
        var checkedInputs = all.Where(p => !IsKeyBias(p.Name)).Select(p => p.Tensor);
        Check(f, input is null ? checkedInputs.ToArray() : [input, .. checkedInputs], maxProbesPerInput: maxProbes);
        Assert.All(keyBiases, b => Assert.All(b.Grad!.ToArray<double>(), g => Assert.True(Math.Abs(g) < 1e-12, $"key bias gradient {g}")));
    }
}
