using MedClip.IO;
using MedClip.Models;
using MedClip.Optim;

namespace MedClip.Training;

/// <summary>
/// Checkpoint folders of a run: <c>checkpoint-NNNNNNN/</c>, each a Hugging Face VisionTextDualEncoder folder
/// (config.json, model.safetensors, vocab.txt, preprocessor_config.json), or a CLIPModel folder for a run started from
/// CLIP (vocab.json, merges.txt and the tokenizer's JSON files instead of vocab.txt), plus the resume state
/// (optimizer.safetensors, trainer_state.json). A folder is written under a temporary name and renamed when complete,
/// so a crash never leaves a half checkpoint that looks whole; only the newest <c>keep</c> are kept, except that a
/// checkpoint being read (<see cref="OpenForReading"/>) is left for a later save to delete.
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
    private const string AsideSuffix = ".replaced";

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
            // Replacing a checkpoint of the same step: the old one is renamed aside first, so a kill at any moment leaves
            // a complete folder under the final name or under the aside name, which RemoveStale renames back.
            string aside = Path.Combine(runDirectory, $".{Prefix}{state.GlobalStep:D7}{AsideSuffix}");
            if (Directory.Exists(final)) Directory.Move(final, aside);
            Directory.Move(temporary, final);
            if (Directory.Exists(aside)) Directory.Delete(aside, recursive: true);
        }
        catch
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
            throw;
        }
        foreach (var old in List(runDirectory).SkipLast(keep))
            if (!IsBeingRead(old)) Directory.Delete(old, recursive: true); // a later save deletes it once the reader is done
        return final;
    }

    /// <summary>
    /// Cleans up after a run that was killed while saving: folders still being written (<c>.checkpoint-*.tmp</c>) are
    /// deleted, and a checkpoint renamed aside for replacement is renamed back when its replacement never arrived.
    /// Call it only while holding the run folder's lock, so that no other process is writing there.
    /// </summary>
    public static IReadOnlyList<string> RemoveStale(string runDirectory)
    {
        var removed = new List<string>();
        if (!Directory.Exists(runDirectory)) return removed;
        foreach (string aside in Directory.GetDirectories(runDirectory, $".{Prefix}*{AsideSuffix}"))
        {
            string final = Path.Combine(runDirectory, Path.GetFileName(aside)[1..^AsideSuffix.Length]);
            if (Directory.Exists(final)) Directory.Delete(aside, recursive: true);
            else Directory.Move(aside, final);
        }
        foreach (string temporary in Directory.GetDirectories(runDirectory, $".{Prefix}*.tmp"))
        {
            Directory.Delete(temporary, recursive: true);
            removed.Add(temporary);
        }
        return removed;
    }

    /// <summary>
    /// Marks a checkpoint as being read (eval, embed) until disposed: a shared OS lock on its config.json. Retention does
    /// not delete a checkpoint whose config.json it cannot lock exclusively. Null when the folder has no config.json.
    /// </summary>
    public static IDisposable? OpenForReading(string checkpoint)
    {
        try
        {
            return new FileStream(Path.Combine(checkpoint, ConfigFile), FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // On Linux .NET takes flock(LOCK_SH) for FileShare.Read and flock(LOCK_EX | LOCK_NB) for FileShare.None.
    private static bool IsBeingRead(string checkpoint)
    {
        try
        {
            using var exclusive = new FileStream(Path.Combine(checkpoint, ConfigFile), FileMode.Open, FileAccess.Read, FileShare.None);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
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
        string step = file.Metadata.GetValueOrDefault("step", "");
        if (!int.TryParse(step, out int restored) || restored < 0)
            throw new InvalidDataException($"'{path}': the metadata step '{step}' must be a whole number, 0 or more.");
        optimizer.RestoreStep(restored);
    }
}
