using MedClip.Autograd;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Models;

/// <summary>
/// HF CLIPVisionModel: bias-free patch convolution, class embedding, position embedding table, pre_layrnorm, pre-LN
/// layers with CLIP's names (quick_gelu in OpenAI's checkpoints), pooler = post_layernorm(CLS). The HF wrapper nests
/// everything under "vision_model.", so inside a dual encoder the names read vision_model.vision_model.*.
/// </summary>
public sealed class ClipVisionTransformer : Module, IVisionTower
{
    private readonly VisionConfig _config;
    private readonly Precision _precision;

    public ClipVisionTransformer(Init init, VisionConfig config)
    {
        config.Validate();
        _config = config;
        _precision = init.Compute.Precision;
        var t = config.Transformer;
        ClassEmbedding = ChildAt("vision_model.embeddings", new ModuleGroup()).AddParameter("class_embedding", init.Normal([t.Width], t.InitializerRange));
        PatchWeight = ChildAt("vision_model.embeddings.patch_embedding", new ModuleGroup())
            .AddParameter("weight", init.Normal([t.Width, config.Channels, config.PatchSize, config.PatchSize], t.InitializerRange));
        PositionEmbedding = ChildAt("vision_model.embeddings.position_embedding", new Embedding(config.InitialPositions(init, [config.Patches + 1, t.Width])));
        PreLayerNorm = ChildAt("vision_model.pre_layrnorm", new LayerNorm(init, t.Width, t.LayerNormEps));
        Layers = Enumerable.Range(0, config.Layers)
            .Select(i => ChildAt($"vision_model.encoder.layers.{i}", new PreNormLayer(init, t, PreNormLayerNames.Clip))).ToArray();
        PostLayerNorm = ChildAt("vision_model.post_layernorm", new LayerNorm(init, t.Width, t.LayerNormEps));
    }

    public Tensor ClassEmbedding { get; }
    public Tensor PatchWeight { get; }
    public Embedding PositionEmbedding { get; }
    public LayerNorm PreLayerNorm { get; }
    public PreNormLayer[] Layers { get; }
    public LayerNorm PostLayerNorm { get; }
    public int Width => _config.Transformer.Width;

    public void Lock(int unlockLast) => TowerLock.Apply(this, Layers, unlockLast, PostLayerNorm);

    public void AddAdapters(Init init, int dim)
    {
        foreach (var layer in Layers) layer.AddAdapters(init, dim);
    }

    public Tensor Forward(Tensor pixels) => Encode(pixels).PoolerOutput;

    /// <summary>pixels [B, C, H, W] -> HF's last_hidden_state [B, 1 + patches, D] (the encoder's output) and pooler_output = post_layernorm(CLS).</summary>
    public (Tensor LastHiddenState, Tensor PoolerOutput) Encode(Tensor pixels)
    {
        Ops.Require(pixels.Rank == 4 && pixels.Shape[1] == _config.Channels && pixels.Shape[2] == _config.ImageSize && pixels.Shape[3] == _config.ImageSize,
            $"ClipVisionTransformer: pixels {pixels.Describe()} must be [batch, {_config.Channels}, {_config.ImageSize}, {_config.ImageSize}].");
        var patches = Ops.Patchify(pixels, _config.PatchSize);
        var x = Ops.Linear(patches, Ops.Reshape(PatchWeight, [Width, (int)(PatchWeight.Length / Width)]), precision: _precision);
        x = Ops.PrependToken(ClassEmbedding, x);
        x = Ops.AddPositionEmbedding(x, PositionEmbedding.Weight);
        x = PreLayerNorm.Forward(x);
        foreach (var layer in Layers) x = layer.Forward(x, null);
        return (x, PostLayerNorm.Forward(Ops.SelectToken(x, 0)));
    }
}
