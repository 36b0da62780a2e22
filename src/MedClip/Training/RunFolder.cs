using MedClip.Data;
using MedClip.Data.Images;
using MedClip.Data.Text;

namespace MedClip.Training;

/// <summary>What makes a folder a run folder, and how a run's files are removed when a new run replaces it (--overwrite).</summary>
public static class RunFolder
{
    public const string MetricsFile = "metrics.jsonl";

    /// <summary>Files a run writes beside its checkpoints; generated data and evaluations are left alone.</summary>
    private static readonly string[] RunFiles =
    [
        MetricsFile, TrainingRun.OptionsFile, LoadSummary.FileName, CheckpointStore.VocabFile, BertTokenizerConfigJson.FileName, PreprocessorConfig.FileName,
        ClipTokenizer.VocabularyFileName, ClipTokenizer.MergesFileName, ClipTokenizer.ConfigFileName, ClipTokenizer.SpecialTokensFileName,
    ];

    /// <summary>Whether <paramref name="folder"/> holds a run: a metrics.jsonl, a train_options.json or a checkpoint.</summary>
    public static bool HoldsRun(string folder) =>
        File.Exists(Path.Combine(folder, MetricsFile)) || File.Exists(Path.Combine(folder, TrainingRun.OptionsFile)) || CheckpointStore.List(folder).Count > 0;

    /// <summary>Deletes a run's checkpoints and files; call it only while holding the folder's <see cref="RunFolderLock"/>.</summary>
    public static void RemoveRun(string folder)
    {
        foreach (string checkpoint in CheckpointStore.List(folder)) Directory.Delete(checkpoint, recursive: true);
        foreach (string file in RunFiles) File.Delete(Path.Combine(folder, file));
    }
}
