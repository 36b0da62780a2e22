using MedClip.IO;
using MedClip.Models;
using MedClip.Optim;

namespace MedClip.Training;

/// <summary>
/// Checkpoint folders of a run: <c>checkpoint-NNNNNNN/</c>, each a Hugging Face VisionTextDualEncoder folder
/// (config.json, model.safetensors, vocab.txt, preprocessor_config.json), or a CLIPModel folder for a run started from
/// CLIP (vocab.json, merges.txt and the tokenizer's JSON files instead of vocab.txt), plus the resume state
/// (optimizer.safetensors, trainer_state.json). A folder is written under a temporary name and renamed when complete,
/// so a crash never leaves a half checkpoint that looks whole; only the newest <c>keep</c> are kept.
/// </summary>
public static class CheckpointStore
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string VocabFile = "vocab.txt";
    public const string PreprocessorFile = "preprocessor_config.json";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "trainer_state.json";
    private const string Prefix = "checkpoint-";

    /// <summary>Files a model checkpoint needs to be loaded for inference.</summary>
    public static readonly string[] ModelFiles = [ConfigFile, WeightsFile, VocabFile, PreprocessorFile];

    /// <summary>
    /// Files a CLIPModel folder needs (its weights may also be pytorch_model.bin; preprocessor_config.json defaults to
    /// CLIP's preprocessing).
    /// </summary>
    public static readonly string[] ClipModelFiles = [ConfigFile, WeightsFile, Data.Text.ClipTokenizer.VocabularyFileName, Data.Text.ClipTokenizer.MergesFileName];

    public static string Save(string runDirectory, DualEncoder model, int contextLength, AdamW optimizer, TrainerState state,
        IEnumerable<string> filesToCopy, int keep)
    {
        string final = Path.Combine(runDirectory, $"{Prefix}{state.GlobalStep:D7}");
        string temporary = Path.Combine(runDirectory, $".{Prefix}{state.GlobalStep:D7}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temporary);
        try
        {
            DualEncoderConfigJson.Write(Path.Combine(temporary, ConfigFile), model.Config, contextLength);
            CheckpointWeights.Save(model, Path.Combine(temporary, WeightsFile));
            foreach (var file in filesToCopy) File.Copy(file, Path.Combine(temporary, Path.GetFileName(file)));
            SafetensorsFile.Write(Path.Combine(temporary, OptimizerFile), optimizer.State.SelectMany(s => new[]
            {
                ModuleWeights.ToSafetensors("exp_avg." + s.Name, s.M),
                ModuleWeights.ToSafetensors("exp_avg_sq." + s.Name, s.V),
            }), new Dictionary<string, string> { ["step"] = optimizer.Step.ToString() });
            state.Write(Path.Combine(temporary, StateFile));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(temporary, final);
        }
        catch
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
            throw;
        }
        foreach (var old in List(runDirectory).SkipLast(keep)) Directory.Delete(old, recursive: true);
        return final;
    }

    /// <summary>Complete checkpoint folders of a run, oldest first.</summary>
    public static IReadOnlyList<string> List(string runDirectory) =>
        Directory.Exists(runDirectory)
            ? Directory.GetDirectories(runDirectory, Prefix + "*").Where(d => int.TryParse(Path.GetFileName(d)[Prefix.Length..], out _))
                .OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal).ToList()
            : [];

    /// <summary>The newest checkpoint of a run folder, or the folder itself when it is a checkpoint.</summary>
    public static string? Latest(string directory) =>
        File.Exists(Path.Combine(directory, StateFile)) ? directory : List(directory).LastOrDefault();

    /// <summary>Throws one sentence naming every model file missing from a checkpoint folder of the given layout.</summary>
    public static void RequireModelFiles(string checkpoint, CheckpointLayout layout = CheckpointLayout.VisionTextDualEncoder)
    {
        if (!Directory.Exists(checkpoint)) throw new DirectoryNotFoundException($"Checkpoint folder '{checkpoint}' does not exist.");
        bool clip = layout == CheckpointLayout.ClipModel;
        var missing = (clip ? ClipModelFiles : ModelFiles).Where(f => !File.Exists(Path.Combine(checkpoint, f))
            && !(clip && f == WeightsFile && File.Exists(Path.Combine(checkpoint, PretrainedTowers.PyTorchWeights)))).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"Checkpoint '{checkpoint}' is incomplete: {string.Join(", ", missing)} missing; copy the files the model was saved with into that folder.");
    }

    /// <summary>Restores AdamW moments and step from a checkpoint's optimizer.safetensors.</summary>
    public static void LoadOptimizer(string checkpoint, AdamW optimizer)
    {
        string path = Path.Combine(checkpoint, OptimizerFile);
        if (!File.Exists(path)) throw new InvalidDataException($"Checkpoint '{checkpoint}' has no {OptimizerFile}, so it cannot be resumed.");
        using var file = SafetensorsFile.Read(path);
        foreach (var (name, m, v) in optimizer.State)
        {
            ModuleWeights.CopyInto(file["exp_avg." + name], m);
            ModuleWeights.CopyInto(file["exp_avg_sq." + name], v);
        }
        optimizer.RestoreStep(int.Parse(file.Metadata["step"]));
    }
}
