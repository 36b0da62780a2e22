using System.Text.Json.Nodes;
using MedClip.Data.Images;
using MedClip.IO;
using MedClip.IO.Torch;
using MedClip.Nn;

namespace MedClip.Models;

/// <summary>An image encoder folder downloaded from the Hugging Face hub: its config and its image preprocessing.</summary>
public sealed record PretrainedVision(string Folder, VisionConfig Config, PreprocessorConfig Preprocessor);

/// <summary>
/// Loads pretrained towers from Hugging Face folders (config.json beside model.safetensors or pytorch_model.bin):
/// <list type="bullet">
/// <item>ViTModel or ViTForImageClassification (google/vit-*): names with or without "vit.", the classifier ignored,
/// a missing pooler left initialised;</item>
/// <item>CLIPModel or CLIPVisionModel (openai/clip-vit-*): the vision_model.* half; text_model.*, the projections,
/// logit_scale and position_ids buffers ignored;</item>
/// <item>BERT family (bert-base, SciBERT, BioClinicalBERT, PubMedBERT): names with or without "bert.", old
/// LayerNorm.gamma/beta names, cls.* heads and position_ids buffers ignored, a missing pooler left initialised;</item>
/// <item>a MedClip checkpoint (vision-text-dual-encoder): the vision_model.* or text_model.* half.</item>
/// </list>
/// Sizes, eps and activations come from the folder's config.json; a tensor that fits nothing is an error. Adapters the
/// folder lacks keep their fresh near-identity start.
/// </summary>
public static class PretrainedTowers
{
    public const string ConfigFile = "config.json";
    public const string SafetensorsWeights = "model.safetensors";
    public const string PyTorchWeights = "pytorch_model.bin";
    private const string DualEncoderType = "vision-text-dual-encoder";

    /// <summary>The vision config (model_type vit, clip or clip_vision_model) and the preprocessing of an image encoder folder.</summary>
    public static PretrainedVision ReadVision(string folder)
    {
        string path = ConfigPath(folder, "--image-encoder");
        var root = DualEncoderConfigJson.ParseFile(path);
        string? modelType = (string?)root["model_type"];
        JsonObject vision = modelType switch
        {
            "vit" or "clip_vision_model" => root,
            "clip" => DualEncoderConfigJson.WithModelType(root["vision_config"] as JsonObject, "clip_vision_model"),
            DualEncoderType => root["vision_config"] as JsonObject ?? throw new InvalidDataException($"'{path}' has no 'vision_config' object."),
            _ => throw new InvalidDataException(
                $"'{path}' has model_type '{modelType}'; --image-encoder takes a Hugging Face vit, clip or clip_vision_model folder or a MedClip checkpoint."),
        };
        if (vision["qkv_bias"] is JsonValue qkvBias && !qkvBias.GetValue<bool>())
            throw new InvalidDataException($"'{path}' sets qkv_bias false; MedClip's ViT always has query, key and value biases.");
        var config = DualEncoderConfigJson.ReadVision(vision, path);
        config.Validate();

        string preprocessorPath = Path.Combine(folder, PreprocessorConfig.FileName);
        var preprocessor = File.Exists(preprocessorPath)
            ? PreprocessorConfig.Read(preprocessorPath)
            : config.ModelType == VisionModelType.ClipVision ? PreprocessorConfig.ForClip(config.ImageSize) : PreprocessorConfig.ForViT(config.ImageSize);
        return new PretrainedVision(folder, config, preprocessor with { ImageSize = config.ImageSize });
    }

    /// <summary>The BERT config of a text encoder folder (model_type bert; absent in some older folders).</summary>
    public static TextConfig ReadText(string folder)
    {
        string path = ConfigPath(folder, "--text-encoder");
        var root = DualEncoderConfigJson.ParseFile(path);
        string? modelType = (string?)root["model_type"];
        if (modelType == DualEncoderType)
        {
            root = root["text_config"] as JsonObject ?? throw new InvalidDataException($"'{path}' has no 'text_config' object.");
            modelType = (string?)root["model_type"];
        }
        if (modelType is not (null or "bert"))
            throw new InvalidDataException($"'{path}' has model_type '{modelType}'; --text-encoder takes a Hugging Face BERT-family folder (model_type bert) or a MedClip checkpoint.");
        if ((string?)root["position_embedding_type"] is { } positions && positions != "absolute")
            throw new InvalidDataException($"'{path}' uses {positions} position embeddings; MedClip's BERT has absolute ones only.");
        var config = DualEncoderConfigJson.ReadText(root, path);
        config.Validate();
        return config;
    }

    /// <summary>Loads the folder's weights into the vision tower; returns notices for the user (e.g. a missing pooler).</summary>
    public static IReadOnlyList<string> LoadVision(IVisionTower tower, VisionConfig config, string folder) =>
        Load((Module)tower, folder, IsDualEncoder(folder) ? name => TowerName(name, "vision_model.")
            : config.ModelType == VisionModelType.ClipVision ? ClipVisionName : VitName);

    /// <summary>Loads the folder's weights into the text tower; returns notices for the user (e.g. a missing pooler).</summary>
    /// <param name="addedTokenPieces">
    /// For a vocabulary extended past the folder's (<see cref="Data.Text.VocabularyExtension"/>): per added token, in id
    /// order after the pretrained ones, the pretrained pieces whose mean embedding it starts from.
    /// </param>
    public static IReadOnlyList<string> LoadText(ITextTower tower, string folder, IReadOnlyList<int[]>? addedTokenPieces = null)
    {
        Func<string, string?> map = IsDualEncoder(folder) ? name => TowerName(name, "text_model.") : BertName;
        if (addedTokenPieces is not { Count: > 0 }) return Load((Module)tower, folder, map);
        // ReadText accepts BERT folders only, so an extended vocabulary always grows a BERT's word embeddings.
        var bert = (Bert)tower;
        return Load(bert, folder, map, WordEmbeddingsName, table => ModuleWeights.CopyInto(Grown(table, addedTokenPieces, bert.WordEmbeddings.Weight.Shape[0]),
            bert.WordEmbeddings.Weight));
    }

    private const string WordEmbeddingsName = "embeddings.word_embeddings.weight";

    /// <summary>The pretrained table [rows, width] with one more row per added token, each the mean of its pieces' rows.</summary>
    private static SafetensorsTensor Grown(SafetensorsTensor table, IReadOnlyList<int[]> addedTokenPieces, int rows)
    {
        if (table.Shape.Length != 2 || table.Shape[0] + addedTokenPieces.Count != rows)
            throw new InvalidDataException($"'{table.Name}' has shape [{string.Join(", ", table.Shape)}], but the extended vocab.txt needs {rows - addedTokenPieces.Count} pretrained rows; its config.json vocab_size and vocab.txt disagree.");
        int oldRows = (int)table.Shape[0], width = (int)table.Shape[1];
        var values = new float[rows * width];
        table.ToFloat32().CopyTo(values, 0);
        for (int i = 0; i < addedTokenPieces.Count; i++)
        {
            var row = values.AsSpan((oldRows + i) * width, width);
            foreach (int piece in addedTokenPieces[i])
            {
                for (int c = 0; c < width; c++) row[c] += values[piece * width + c] / addedTokenPieces[i].Length;
            }
        }
        return SafetensorsTensor.FromFloat32(table.Name, [rows, width], values);
    }

    private static bool IsDualEncoder(string folder) =>
        (string?)DualEncoderConfigJson.ParseFile(Path.Combine(folder, ConfigFile))["model_type"] == DualEncoderType;

    /// <summary>A MedClip checkpoint's tensor of the tower under <paramref name="prefix"/>, without the prefix; the rest ignored.</summary>
    private static string? TowerName(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : null;

    /// <summary>ViTModel names; ViTForImageClassification adds "vit." and a classifier.</summary>
    private static string? VitName(string name) =>
        name.StartsWith("classifier.", StringComparison.Ordinal) ? null : WithoutPrefix(name, "vit.");

    /// <summary>CLIPVisionModel names as they are; of a CLIPModel only the vision half.</summary>
    private static string? ClipVisionName(string name) =>
        name.EndsWith("position_ids", StringComparison.Ordinal) || name.StartsWith("text_model.", StringComparison.Ordinal)
        || name is "visual_projection.weight" or "text_projection.weight" or "logit_scale"
            ? null
            : name;

    /// <summary>BertModel names; BertForPreTraining/MaskedLM add "bert." and cls.* heads; old files say gamma/beta.</summary>
    private static string? BertName(string name)
    {
        if (name.StartsWith("cls.", StringComparison.Ordinal) || name.EndsWith("position_ids", StringComparison.Ordinal)) return null;
        name = WithoutPrefix(name, "bert.");
        if (name.Contains("LayerNorm.", StringComparison.Ordinal))
        {
            if (name.EndsWith(".gamma", StringComparison.Ordinal)) return name[..^"gamma".Length] + "weight";
            if (name.EndsWith(".beta", StringComparison.Ordinal)) return name[..^"beta".Length] + "bias";
        }
        return name;
    }

    /// <param name="setAside">A parameter name whose tensor is handed to <paramref name="loadSetAside"/> instead of being copied as it is.</param>
    private static IReadOnlyList<string> Load(Module tower, string folder, Func<string, string?> map, string? setAside = null,
        Action<SafetensorsTensor>? loadSetAside = null)
    {
        var (source, tensors, file) = OpenWeights(folder);
        using (file)
        {
            var mapped = tensors.Select(t => (Name: map(t.Name), Tensor: t)).Where(t => t.Name is not null).Select(t => (Name: t.Name!, t.Tensor)).ToList();
            var special = mapped.Where(t => t.Name == setAside).ToList();
            if (setAside is not null && special.Count != 1)
                throw new InvalidDataException($"'{source}' has {special.Count} tensors for {setAside}, not one.");
            static bool IsPooler(string name) => name.StartsWith("pooler.", StringComparison.Ordinal);
            var keptInitialised = ModuleWeights.Assign(tower, mapped.Where(t => t.Name != setAside), source,
                optional: name => IsPooler(name) || name == setAside || name.Contains(".adapter.", StringComparison.Ordinal)).Where(IsPooler).ToList();
            if (setAside is not null) loadSetAside!(special[0].Tensor);
            return keptInitialised.Count == 0
                ? []
                : [$"'{source}' has no pooler ({string.Join(", ", keptInitialised)}); it stays freshly initialised and is trained from scratch."];
        }
    }

    /// <summary>model.safetensors (memory-mapped), else pytorch_model.bin through the PyTorch reader.</summary>
    public static (string Path, IReadOnlyCollection<SafetensorsTensor> Tensors, IDisposable? File) OpenWeights(string folder)
    {
        string safetensors = Path.Combine(folder, SafetensorsWeights);
        if (File.Exists(safetensors))
        {
            var file = SafetensorsFile.Read(safetensors);
            return (safetensors, file.Tensors.Values.ToList(), file);
        }
        string pytorch = Path.Combine(folder, PyTorchWeights);
        if (File.Exists(pytorch)) return (pytorch, TorchCheckpoint.Read(pytorch).ToList(), null);
        if (Directory.EnumerateFiles(folder, "*.index.json").Any())
            throw new InvalidDataException($"'{folder}' holds a sharded checkpoint, which MedClip does not read; save the model as one {SafetensorsWeights}.");
        throw new FileNotFoundException($"'{folder}' has neither {SafetensorsWeights} nor {PyTorchWeights}.", safetensors);
    }

    private static string ConfigPath(string folder, string option)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{option} folder '{folder}' does not exist; give a Hugging Face model folder with a {ConfigFile}, " +
                $"e.g. from `huggingface-cli download ORG/NAME --local-dir {folder}` on a machine with internet access (docs/pretrained-towers.md).");
        return Path.Combine(folder, ConfigFile);
    }

    private static string WithoutPrefix(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
}
