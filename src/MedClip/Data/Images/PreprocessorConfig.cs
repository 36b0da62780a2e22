using System.Text.Json;
using MedClip.IO;

namespace MedClip.Data.Images;

/// <summary>
/// The image preprocessing a checkpoint was trained with, read from and written to Hugging Face's
/// preprocessor_config.json. MedClip always pads to a square and resizes to <see cref="ImageSize"/>, so the file's
/// size must be square; <see cref="DoResize"/> is kept so a file round-trips (on a square input of the right size
/// resizing changes nothing).
/// </summary>
public sealed record PreprocessorConfig(int ImageSize, IReadOnlyList<float> ImageMean, IReadOnlyList<float> ImageStd)
{
    public const string FileName = "preprocessor_config.json";
    public const string ViTImageProcessor = "ViTImageProcessor";
    public const string ClipImageProcessor = "CLIPImageProcessor";

    /// <summary>OpenAI CLIP's per-channel statistics (transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD).</summary>
    public static IReadOnlyList<float> ClipMean { get; } = [0.48145466f, 0.4578275f, 0.40821073f];
    public static IReadOnlyList<float> ClipStd { get; } = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>ImageNet's per-channel statistics (IMAGENET_DEFAULT_MEAN / IMAGENET_DEFAULT_STD, used by timm and torchvision).</summary>
    public static IReadOnlyList<float> ImageNetMean { get; } = [0.485f, 0.456f, 0.406f];
    public static IReadOnlyList<float> ImageNetStd { get; } = [0.229f, 0.224f, 0.225f];

    /// <summary>0.5 per channel, mapping [0, 1] to [-1, 1] (IMAGENET_STANDARD_MEAN / STD): ViTImageProcessor's default.</summary>
    public static IReadOnlyList<float> ImageNetStandardMean { get; } = [0.5f, 0.5f, 0.5f];
    public static IReadOnlyList<float> ImageNetStandardStd { get; } = [0.5f, 0.5f, 0.5f];

    public bool DoResize { get; init; } = true;
    public bool DoNormalize { get; init; } = true;
    public string ImageProcessorType { get; init; } = ViTImageProcessor;

    /// <summary>ViTImageProcessor's defaults at <paramref name="imageSize"/>.</summary>
    public static PreprocessorConfig ForViT(int imageSize) => new(imageSize, ImageNetStandardMean, ImageNetStandardStd);

    /// <summary>CLIPImageProcessor's defaults at <paramref name="imageSize"/>.</summary>
    public static PreprocessorConfig ForClip(int imageSize) =>
        new(imageSize, ClipMean, ClipStd) { ImageProcessorType = ClipImageProcessor };

    /// <summary>
    /// Reads a preprocessor_config.json. size may be an int, {"height", "width"} or {"shortest_edge"}; when
    /// do_center_crop is on (CLIPImageProcessor's default) the crop_size is the image size the model sees. Missing
    /// fields take transformers' defaults for the processor type.
    /// </summary>
    public static PreprocessorConfig Read(string path)
    {
        IO.PosixFileSystem.RequireRegularFile(path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"Preprocessor config '{path}' does not exist; a checkpoint folder needs a {FileName}.", path, e);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Preprocessor config '{path}' is not valid JSON ({e.Message}); fix or regenerate it.", e);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"Preprocessor config '{path}' must hold a JSON object; fix or regenerate it.");
            string type = TypeOf(root);
            bool clip = type == ClipImageProcessor;
            bool centerCrop = OptionalBool(path, root, "do_center_crop") ?? clip;
            int imageSize = centerCrop && root.TryGetProperty("crop_size", out JsonElement crop)
                ? SquareSide(path, "crop_size", crop)
                : root.TryGetProperty("size", out JsonElement size) ? SquareSide(path, "size", size) : 224;
            return new PreprocessorConfig(
                imageSize,
                Statistics(path, root, "image_mean", clip ? ClipMean : ImageNetStandardMean),
                Statistics(path, root, "image_std", clip ? ClipStd : ImageNetStandardStd))
            {
                DoResize = OptionalBool(path, root, "do_resize") ?? true,
                DoNormalize = OptionalBool(path, root, "do_normalize") ?? true,
                ImageProcessorType = type,
            };
        }
    }

    /// <summary>
    /// Writes the file so that transformers reproduces this preprocessing on square inputs: an explicit square size,
    /// bicubic resampling (resample 3), rescaling by 1/255 and, for CLIP, a centre crop that is turned off. The write is
    /// atomic (<see cref="AtomicFile"/>).
    /// </summary>
    public void Write(string path)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            writer.WriteStartObject();
            writer.WriteString("image_processor_type", ImageProcessorType);
            writer.WriteBoolean("do_resize", DoResize);
            WriteSquare(writer, "size", ImageSize);
            writer.WriteNumber("resample", 3);
            if (ImageProcessorType == ClipImageProcessor)
            {
                writer.WriteBoolean("do_center_crop", false);
                WriteSquare(writer, "crop_size", ImageSize);
            }
            writer.WriteBoolean("do_rescale", true);
            writer.WriteNumber("rescale_factor", 1.0 / 255);
            writer.WriteBoolean("do_normalize", DoNormalize);
            WriteNumbers(writer, "image_mean", ImageMean);
            WriteNumbers(writer, "image_std", ImageStd);
            writer.WriteEndObject();
        });
    }

    /// <summary>image_processor_type, or the older feature_extractor_type with its ImageProcessor name.</summary>
    private static string TypeOf(JsonElement root)
    {
        if (root.TryGetProperty("image_processor_type", out JsonElement type) && type.ValueKind == JsonValueKind.String)
            return type.GetString()!;
        if (root.TryGetProperty("feature_extractor_type", out JsonElement legacy) && legacy.ValueKind == JsonValueKind.String)
            return legacy.GetString()!.Replace("FeatureExtractor", "ImageProcessor", StringComparison.Ordinal);
        return ViTImageProcessor;
    }

    private static int SquareSide(string path, string name, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int side) && side > 0)
            return side;
        if (value.ValueKind == JsonValueKind.Object)
        {
            if (value.TryGetProperty("shortest_edge", out JsonElement edge) && edge.TryGetInt32(out int shortest) && shortest > 0)
                return shortest;
            if (value.TryGetProperty("height", out JsonElement h) && h.TryGetInt32(out int height) &&
                value.TryGetProperty("width", out JsonElement w) && w.TryGetInt32(out int width) && height > 0)
            {
                return height == width
                    ? height
                    : throw new InvalidDataException($"Preprocessor config '{path}' asks for {height} x {width} images but MedClip's models take square ones; set '{name}' to one side.");
            }
        }
        throw new InvalidDataException($"Preprocessor config '{path}' has '{name}' = {value.GetRawText()}; it must be a positive integer, {{\"height\", \"width\"}} or {{\"shortest_edge\"}}.");
    }

    private static IReadOnlyList<float> Statistics(string path, JsonElement root, string name, IReadOnlyList<float> fallback)
    {
        if (!root.TryGetProperty(name, out JsonElement value))
            return fallback;
        if (value.ValueKind == JsonValueKind.Number)
            return [value.GetSingle(), value.GetSingle(), value.GetSingle()];
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 3 &&
            value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.Number))
            return [.. value.EnumerateArray().Select(v => v.GetSingle())];
        throw new InvalidDataException($"Preprocessor config '{path}' has '{name}' = {value.GetRawText()}; it must be a number or a list of 3 numbers (one per RGB channel).");
    }

    private static bool? OptionalBool(string path, JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"Preprocessor config '{path}' has '{name}' = {value.GetRawText()}; it must be true or false."),
        };
    }

    private static void WriteSquare(Utf8JsonWriter writer, string name, int side)
    {
        writer.WriteStartObject(name);
        writer.WriteNumber("height", side);
        writer.WriteNumber("width", side);
        writer.WriteEndObject();
    }

    private static void WriteNumbers(Utf8JsonWriter writer, string name, IReadOnlyList<float> values)
    {
        writer.WriteStartArray(name);
        foreach (float value in values)
            writer.WriteNumberValue(value);
        writer.WriteEndArray();
    }
}
