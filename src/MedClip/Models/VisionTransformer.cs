using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Models;

/// <summary>Which HF vision model a config describes (config.json model_type "vit" or "clip_vision_model").</summary>
public enum VisionModelType
{
    Vit,
    ClipVision,
}

/// <summary>How a from-scratch vision tower starts its position embeddings (config.json "position_embedding_init").</summary>
public enum PositionEmbeddingInit
{
    /// <summary>Normal with std initializer_range, as transformers does ("normal", the default).</summary>
    Normal,

    /// <summary>The 2-D sine-cosine table of MAE, still learned ("sincos"; see <see cref="Init.SinCosGrid"/>).</summary>
    SinCos,
}

/// <summary>Sizes of an HF ViTModel or CLIPVisionModel.</summary>
public sealed record VisionConfig(int ImageSize, int PatchSize, int Channels, int Layers, TransformerConfig Transformer,
    VisionModelType ModelType = VisionModelType.Vit, PositionEmbeddingInit PositionInit = PositionEmbeddingInit.Normal)
{
    /// <summary>Patches along each side of the image.</summary>
    public int Grid => ImageSize / PatchSize;

    public int Patches => Grid * Grid;

    public void Validate()
    {
        Transformer.Validate("vision_config");
        if (PatchSize <= 0 || ImageSize % PatchSize != 0)
            throw new ArgumentException($"vision_config: image_size {ImageSize} must be a multiple of patch_size {PatchSize}.");
        if (PositionInit == PositionEmbeddingInit.SinCos && Transformer.Width % 4 != 0)
            throw new ArgumentException($"vision_config: position_embedding_init sincos needs a hidden_size divisible by 4, not {Transformer.Width}.");
    }

    /// <summary>The initial position table, [1 + patches, width] reshaped to <paramref name="shape"/> (CLS first).</summary>
    public Tensor InitialPositions(Init init, Shape shape) => PositionInit == PositionEmbeddingInit.SinCos
        ? init.SinCosGrid(Grid, Transformer.Width).View(shape)
        : init.Normal(shape, Transformer.InitializerRange);
}

/// <summary>
/// HF ViTModel: patch embedding (a stride-P convolution, done as patchify + GEMM), CLS token, absolute position
/// embeddings, pre-LN layers, final layernorm, pooler = tanh(dense(CLS)).
/// </summary>
public sealed class VisionTransformer : Module, IVisionTower
{
    private readonly VisionConfig _config;
    private readonly Precision _precision;

    public VisionTransformer(Init init, VisionConfig config)
    {
        config.Validate();
        _config = config;
        _precision = init.Compute.Precision;
        var t = config.Transformer;
        var embeddings = Child("embeddings", new ModuleGroup());
        ClassToken = embeddings.AddParameter("cls_token", init.Normal([1, 1, t.Width], t.InitializerRange));
        PositionEmbeddings = embeddings.AddParameter("position_embeddings", config.InitialPositions(init, [1, config.Patches + 1, t.Width]));
        var projection = embeddings.Add("patch_embeddings", new ModuleGroup()).Add("projection", new ModuleGroup());
        PatchWeight = projection.AddParameter("weight", init.Normal([t.Width, config.Channels, config.PatchSize, config.PatchSize], t.InitializerRange));
        PatchBias = projection.AddParameter("bias", init.Constant([t.Width], 0));
        var encoder = Child("encoder", new ModuleGroup()).Add("layer", new ModuleGroup());
        Layers = Enumerable.Range(0, config.Layers).Select(i => encoder.Add(i.ToString(), new PreNormLayer(init, t))).ToArray();
        FinalLayerNorm = Child("layernorm", new LayerNorm(init, t.Width, t.LayerNormEps));
        Pooler = Child("pooler", new ModuleGroup()).Add("dense", new Linear(init, t.Width, t.Width, t.InitializerRange));
    }

    public Tensor ClassToken { get; }
    public Tensor PositionEmbeddings { get; }
    public Tensor PatchWeight { get; }
    public Tensor PatchBias { get; }
    public PreNormLayer[] Layers { get; }
    public LayerNorm FinalLayerNorm { get; }
    public Linear Pooler { get; }
    public int Width => _config.Transformer.Width;

    public void Lock(int unlockLast) => TowerLock.Apply(this, Layers, unlockLast, FinalLayerNorm, Pooler);

    public void AddAdapters(Init init, int dim)
    {
        foreach (var layer in Layers) layer.AddAdapters(init, dim);
    }

    /// <summary>pixels [B, C, H, W] (normalised) -> pooler output [B, D].</summary>
    public Tensor Forward(Tensor pixels) => Encode(pixels).PoolerOutput;

    /// <summary>pixels [B, C, H, W] -> HF's last_hidden_state [B, 1 + patches, D] (after the final layernorm) and pooler_output [B, D].</summary>
    public (Tensor LastHiddenState, Tensor PoolerOutput) Encode(Tensor pixels)
    {
        Ops.Require(pixels.Rank == 4 && pixels.Shape[1] == _config.Channels && pixels.Shape[2] == _config.ImageSize && pixels.Shape[3] == _config.ImageSize,
            $"VisionTransformer: pixels {pixels.Describe()} must be [batch, {_config.Channels}, {_config.ImageSize}, {_config.ImageSize}].");
        int width = Width;
        var patches = Ops.Patchify(pixels, _config.PatchSize);
        var weight = Ops.Reshape(PatchWeight, [width, (int)(PatchWeight.Length / width)]);
        var x = Ops.Linear(patches, weight, PatchBias, precision: _precision);
        x = Ops.PrependToken(ClassToken, x);
        x = Ops.AddPositionEmbedding(x, Ops.Reshape(PositionEmbeddings, [_config.Patches + 1, width]));
        foreach (var layer in Layers) x = layer.Forward(x, null);
        x = FinalLayerNorm.Forward(x);
        return (x, Ops.Activate(Pooler.Forward(Ops.SelectToken(x, 0)), Activation.Tanh));
    }
}
