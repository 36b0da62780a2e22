using MedClip.IO;

namespace MedClip.Models;

/// <summary>
/// A dual encoder's weights in a checkpoint folder under the names of its layout: VisionTextDualEncoderModel's in
/// model.safetensors (a CLIP tower nests its own wrapper: vision_model.vision_model.*, text_model.text_model.*), or
/// CLIPModel's (vision_model.*, text_model.*, the projections, logit_scale) in model.safetensors or pytorch_model.bin,
/// where the position_ids buffers that older transformers saved are accepted and ignored.
/// </summary>
public static class CheckpointWeights
{
    public const string WeightsFile = "model.safetensors";

    public static void Load(DualEncoder model, string folder)
    {
        if (model.Config.Layout != CheckpointLayout.ClipModel)
        {
            ModuleWeights.Load(model, Path.Combine(folder, WeightsFile));
            return;
        }
        var (source, tensors, file) = PretrainedTowers.OpenWeights(folder);
        using (file)
        {
            var named = tensors.Select(t => (Name: FromClipName(t.Name), Tensor: t)).Where(t => t.Name is not null).Select(t => (t.Name!, t.Tensor));
            ModuleWeights.Assign(model, named, source, optional: _ => false);
        }
    }

    /// <summary>Writes model.safetensors under the names of the model's layout.</summary>
    public static void Save(DualEncoder model, string path) =>
        ModuleWeights.Save(model, path, rename: model.Config.Layout == CheckpointLayout.ClipModel ? ClipName : null);

    /// <summary>A parameter's name in a CLIPModel state dict: the towers' inner wrapper level dropped.</summary>
    public static string ClipName(string name) =>
        name.StartsWith(NestedVision, StringComparison.Ordinal) ? name[Vision.Length..]
        : name.StartsWith(NestedText, StringComparison.Ordinal) ? name[Text.Length..]
        : name;

    private const string Vision = "vision_model.", Text = "text_model.";
    private const string NestedVision = Vision + Vision, NestedText = Text + Text;

    private static string? FromClipName(string name) =>
        name.EndsWith("position_ids", StringComparison.Ordinal) ? null
        : name.StartsWith(Vision, StringComparison.Ordinal) ? Vision + name
        : name.StartsWith(Text, StringComparison.Ordinal) ? Text + name
        : name;
}
