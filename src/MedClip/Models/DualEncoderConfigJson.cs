using System.Text.Json;
using System.Text.Json.Nodes;
using MedClip.Autograd;
using MedClip.Backends;
using MedClip.IO;
using MedClip.Nn;

namespace MedClip.Models;

/// <summary>
/// Reads and writes Hugging Face config.json files: VisionTextDualEncoderConfig ("vision-text-dual-encoder") with a
/// ViTConfig ("vit") or CLIPVisionConfig and a BertConfig ("bert") or CLIPTextConfig, and CLIPConfig ("clip"), field
/// names and defaults as in transformers.
/// </summary>
public static class DualEncoderConfigJson
{
    /// <summary>The key of MedClip's adapter dimension, written only for a model with adapters (transformers ignores it).</summary>
    public const string AdapterDimKey = "adapter_dim";

    /// <summary>config.json of the config's layout; a CLIPModel's context length is its text max_position_embeddings.</summary>
    public static JsonObject ToJson(DualEncoderConfig config, int contextLength)
    {
        var o = config.Layout == CheckpointLayout.ClipModel
            ? new JsonObject
            {
                ["architectures"] = new JsonArray("CLIPModel"),
                ["model_type"] = "clip",
                ["projection_dim"] = config.ProjectionDim,
                ["logit_scale_init_value"] = config.LogitScaleInit,
                ["initializer_factor"] = 1.0,
                ["torch_dtype"] = "float32",
                ["text_config"] = TextJson(config.Text),
                ["vision_config"] = VisionJson(config.Vision),
            }
            : new JsonObject
            {
                ["architectures"] = new JsonArray("VisionTextDualEncoderModel"),
                ["model_type"] = "vision-text-dual-encoder",
                ["projection_dim"] = config.ProjectionDim,
                ["logit_scale_init_value"] = config.LogitScaleInit,
                ["context_length"] = contextLength,
                ["torch_dtype"] = "float32",
                ["vision_config"] = VisionJson(config.Vision),
                ["text_config"] = TextJson(config.Text),
            };
        if (config.AdapterDim > 0) o[AdapterDimKey] = config.AdapterDim;
        return o;
    }

    private static int AdapterDim(JsonObject root, string path)
    {
        int adapterDim = Get(root, AdapterDimKey, 0);
        if (adapterDim < 0) throw new InvalidDataException($"'{path}': {AdapterDimKey} {adapterDim} must not be negative.");
        return adapterDim;
    }

    public static void Write(string path, DualEncoderConfig config, int contextLength) =>
        AtomicFile.WriteAllText(path, ToJson(config, contextLength).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>
    /// Reads a dual-encoder or CLIPModel config.json; returns the config and the context length (context_length, or
    /// the text max positions up to 128 when absent; a CLIPModel's max_position_embeddings, 77 in OpenAI's).
    /// </summary>
    public static (DualEncoderConfig Config, int ContextLength) Read(string path)
    {
        var root = ParseFile(path);
        string? modelType = (string?)root["model_type"];
        if (modelType == "clip")
        {
            var clipText = ReadText(WithModelType(root["text_config"] as JsonObject, "clip_text_model"), path);
            var clipVision = ReadVision(WithModelType(root["vision_config"] as JsonObject, "clip_vision_model"), path);
            var clip = new DualEncoderConfig(clipVision, clipText, Size(root, "projection_dim", 512, MaxWidth, path),
                Get(root, "logit_scale_init_value", DualEncoderConfig.ClipLogitScaleInit), CheckpointLayout.ClipModel, AdapterDim(root, path));
            return (clip, clipText.MaxPositions);
        }
        if (modelType != "vision-text-dual-encoder")
            throw new InvalidDataException($"'{path}' has model_type '{modelType}'; MedClip reads vision-text-dual-encoder and clip checkpoints.");
        var vision = ReadVision(Required<JsonObject>(root, "vision_config", path), path);
        var text = ReadText(Required<JsonObject>(root, "text_config", path), path);
        var config = new DualEncoderConfig(vision, text, Size(root, "projection_dim", 512, MaxWidth, path), Get(root, "logit_scale_init_value", DualEncoderConfig.ClipLogitScaleInit),
            AdapterDim: AdapterDim(root, path));
        return (config, Size(root, "context_length", Math.Min(text.MaxPositions, 128), text.MaxPositions, path));
    }

    public static JsonObject VisionJson(VisionConfig v)
    {
        var o = new JsonObject
        {
            ["model_type"] = v.ModelType == VisionModelType.ClipVision ? "clip_vision_model" : "vit",
            ["hidden_size"] = v.Transformer.Width,
            ["num_hidden_layers"] = v.Layers,
            ["num_attention_heads"] = v.Transformer.Heads,
            ["intermediate_size"] = v.Transformer.IntermediateSize,
            ["hidden_act"] = ActivationName(v.Transformer.Activation),
            ["layer_norm_eps"] = v.Transformer.LayerNormEps,
            ["initializer_range"] = v.Transformer.InitializerRange,
            ["image_size"] = v.ImageSize,
            ["patch_size"] = v.PatchSize,
            ["num_channels"] = v.Channels,
            ["qkv_bias"] = true,
            ["hidden_dropout_prob"] = 0.0,
            ["attention_probs_dropout_prob"] = 0.0,
        };
        // Our own key, written only when it differs from transformers' init (which ignores it on loading).
        if (v.PositionInit == PositionEmbeddingInit.SinCos) o["position_embedding_init"] = "sincos";
        return o;
    }

    /// <summary>A BertConfig or CLIPTextConfig object: the transformer's sizes, then each model type's own fields.</summary>
    public static JsonObject TextJson(TextConfig t)
    {
        bool clip = t.ModelType == TextModelType.ClipText;
        var o = new JsonObject
        {
            ["model_type"] = clip ? "clip_text_model" : "bert",
            ["vocab_size"] = t.VocabSize,
            ["hidden_size"] = t.Transformer.Width,
            ["num_hidden_layers"] = t.Layers,
            ["num_attention_heads"] = t.Transformer.Heads,
            ["intermediate_size"] = t.Transformer.IntermediateSize,
            ["hidden_act"] = ActivationName(t.Transformer.Activation),
            ["layer_norm_eps"] = t.Transformer.LayerNormEps,
            ["initializer_range"] = t.Transformer.InitializerRange,
            ["max_position_embeddings"] = t.MaxPositions,
        };
        if (clip)
        {
            o["eos_token_id"] = t.EosTokenId;
            o["attention_dropout"] = 0.0;
            return o;
        }
        o["type_vocab_size"] = t.TypeVocabSize;
        o["pad_token_id"] = 0;
        o["position_embedding_type"] = "absolute";
        o["hidden_dropout_prob"] = 0.0;
        o["attention_probs_dropout_prob"] = 0.0;
        return o;
    }

    /// <summary>A ViT or CLIP vision config object (transformers' ViTConfig / CLIPVisionConfig defaults for absent fields).</summary>
    public static VisionConfig ReadVision(JsonObject o, string path)
    {
        string modelType = Get(o, "model_type", "vit");
        string positionInit = Get(o, "position_embedding_init", "normal");
        var positions = positionInit switch
        {
            "normal" => PositionEmbeddingInit.Normal,
            "sincos" => PositionEmbeddingInit.SinCos,
            _ => throw new InvalidDataException($"'{path}': vision position_embedding_init '{positionInit}' is not supported; use normal or sincos."),
        };
        return modelType switch
        {
            "vit" => new VisionConfig(Size(o, "image_size", 224, MaxImageSize, path), Size(o, "patch_size", 16, MaxImageSize, path), Size(o, "num_channels", 3, MaxChannels, path), Size(o, "num_hidden_layers", 12, MaxLayers, path),
                ReadTransformer(o, path, width: 768, heads: 12, intermediate: 3072, act: "gelu", eps: 1e-12), VisionModelType.Vit, positions),
            "clip_vision_model" => new VisionConfig(Size(o, "image_size", 224, MaxImageSize, path), Size(o, "patch_size", 32, MaxImageSize, path), Size(o, "num_channels", 3, MaxChannels, path), Size(o, "num_hidden_layers", 12, MaxLayers, path),
                ReadTransformer(o, path, width: 768, heads: 12, intermediate: 3072, act: "quick_gelu", eps: 1e-5), VisionModelType.ClipVision, positions),
            _ => throw new InvalidDataException($"'{path}': vision model_type '{modelType}' is not supported; use vit or clip_vision_model."),
        };
    }

    /// <summary>A BERT or CLIP text config object (transformers' BertConfig / CLIPTextConfig defaults for absent fields).</summary>
    public static TextConfig ReadText(JsonObject o, string path)
    {
        string modelType = Get(o, "model_type", "bert");
        return modelType switch
        {
            "bert" => new TextConfig(Size(o, "vocab_size", 30522, MaxVocabulary, path), Size(o, "max_position_embeddings", 512, MaxPositions, path),
                Size(o, "type_vocab_size", 2, MaxTypes, path), Size(o, "num_hidden_layers", 12, MaxLayers, path),
                ReadTransformer(o, path, width: 768, heads: 12, intermediate: 3072, act: "gelu", eps: 1e-12)),
            "clip_text_model" => new TextConfig(Size(o, "vocab_size", 49408, MaxVocabulary, path), Size(o, "max_position_embeddings", 77, MaxPositions, path),
                TypeVocabSize: 0, Size(o, "num_hidden_layers", 12, MaxLayers, path),
                ReadTransformer(o, path, width: 512, heads: 8, intermediate: 2048, act: "quick_gelu", eps: 1e-5),
                TextModelType.ClipText, Get(o, "eos_token_id", ClipTextTransformer.OpenAiEndOfTextId)),
            _ => throw new InvalidDataException($"'{path}': text model_type '{modelType}' is not supported; use bert or clip_text_model."),
        };
    }

    /// <summary>A copy of a nested config object with its model_type set (CLIPConfig's sub-configs may omit it).</summary>
    public static JsonObject WithModelType(JsonObject? config, string modelType)
    {
        var copy = (JsonObject?)config?.DeepClone() ?? [];
        copy["model_type"] = modelType;
        return copy;
    }

    private static TransformerConfig ReadTransformer(JsonObject o, string path, int width, int heads, int intermediate, string act, double eps)
    {
        act = Get(o, "hidden_act", act);
        Activation activation;
        try
        {
            activation = Ops.ParseActivation(act);
        }
        catch (NotSupportedException e)
        {
            throw new InvalidDataException($"'{path}': {e.Message}");
        }
        return new TransformerConfig(Size(o, "hidden_size", width, MaxWidth, path), Size(o, "num_attention_heads", heads, MaxHeads, path),
            Size(o, "intermediate_size", intermediate, MaxIntermediate, path),
            activation, Get(o, "layer_norm_eps", eps), Get(o, "initializer_range", 0.02));
    }

    private static string ActivationName(Activation a) => a switch
    {
        Activation.GeluErf => "gelu",
        Activation.GeluTanh => "gelu_pytorch_tanh",
        Activation.QuickGelu => "quick_gelu",
        Activation.Tanh => "tanh",
        Activation.Relu => "relu",
        _ => throw new ArgumentOutOfRangeException(nameof(a), a, null),
    };

    public static JsonObject ParseFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Config file '{path}' does not exist.", path);
        PosixFileSystem.RequireRegularFile(path);
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"'{path}' does not hold a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}");
        }
    }

    private static T Required<T>(JsonObject o, string key, string path) where T : JsonNode =>
        o[key] as T ?? throw new InvalidDataException($"'{path}' has no '{key}' object.");

    // Upper bounds for sizes read from a config, checked before anything is allocated: far above every released model
    // (ViT-g is 1,408 wide, 6,144 intermediate, 40 layers), far below what would exhaust memory from a hand-edited value.
    private const int MaxWidth = 16_384, MaxIntermediate = 65_536, MaxHeads = 256, MaxLayers = 256, MaxImageSize = 8_192, MaxChannels = 16,
        MaxVocabulary = 1_000_000, MaxPositions = 65_536, MaxTypes = 64;

    private static int Size(JsonObject o, string key, int fallback, int max, string path)
    {
        int value = Get(o, key, fallback);
        if (value < 1 || value > max)
            throw new InvalidDataException($"'{path}': {key} is {value}; it must be between 1 and {max:N0}.");
        return value;
    }

    private static T Get<T>(JsonObject o, string key, T fallback)
    {
        var node = o[key];
        if (node is null) return fallback;
        try
        {
            return node.GetValue<T>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"Config field '{key}' has value {node.ToJsonString()}, which is not a {typeof(T).Name}.");
        }
    }
}
