using MedClip.Data.Manifest;
using MedClip.Data.Mimic;
using MedClip.Data.Roco;
using MedClip.Data.Shards;
using MedClip.Data.Synthetic;
using MedClip.Data.Text;

namespace MedClip.Data;

/// <summary>A dataset named on the command line: synthetic, mimic:DIR, roco:DIR, manifest:FILE or shards:DIR.</summary>
public sealed record DatasetSpec(string Kind, string? Path)
{
    public const string Synthetic = "synthetic";
    public const string Mimic = "mimic";
    public const string Roco = "roco";
    public const string Manifest = "manifest";
    public const string Shards = "shards";

    /// <summary>Studies of the built-in synthetic set.</summary>
    public const int DefaultSyntheticStudies = 2000;

    private const string Kinds = "synthetic, mimic:DIR (MIMIC-CXR-JPG), roco:DIR (ROCO), manifest:FILE (CSV or JSONL) or shards:DIR (from prep)";

    public static DatasetSpec Parse(string spec)
    {
        if (spec == Synthetic) return new DatasetSpec(Synthetic, null);
        int colon = spec.IndexOf(':');
        string kind = colon < 0 ? spec : spec[..colon];
        string path = colon < 0 ? "" : spec[(colon + 1)..];
        return kind switch
        {
            Mimic or Roco or Manifest or Shards when path.Length > 0 => new DatasetSpec(kind, path),
            Mimic or Roco or Manifest or Shards => throw new ArgumentException($"--data '{spec}' names no path; write {kind}:PATH."),
            _ => throw new ArgumentException($"--data '{spec}' is not a dataset; use {Kinds}."),
        };
    }

    public override string ToString() => Path is null ? Kind : $"{Kind}:{Path}";

    /// <summary>Whether the texts are MIMIC-CXR style reports, cut into sections (synthetic and mimic:).</summary>
    public bool HasReports => Kind is Synthetic or Mimic;

    /// <summary>How this dataset's raw texts become training texts under <paramref name="options"/>.</summary>
    public TrainingText TextPolicy(DatasetOptions options) =>
        HasReports ? TrainingText.Report(options.Sections, mimicStudyRules: Kind == Mimic) : TrainingText.Caption;

    /// <summary>
    /// Reads the samples with their training text (report sections extracted for MIMIC). The synthetic set is generated
    /// under <paramref name="workDirectory"/> on first use and reused afterwards. A dataset with no usable sample is
    /// an <see cref="InvalidDataException"/> whose message says why.
    /// </summary>
    public LoadedDataset Load(string workDirectory, int imageSize, int seed, Action<string>? log = null, int syntheticStudies = DefaultSyntheticStudies,
        DatasetOptions? options = null, IProgress<WorkProgress>? progress = null)
    {
        options ??= new DatasetOptions();
        LoadedDataset data = Kind == Shards
            ? ShardSet.Read(ExistingRoot(workDirectory))
            : LoadedDataset.FromRaw(ReadRaw(workDirectory, imageSize, seed, log, syntheticStudies, options, progress), TextPolicy(options));
        if (data.Train.Count + data.Validation.Count + data.Test.Count == 0)
            throw new InvalidDataException($"Dataset {this} has no usable samples ({data.Summary}); check the path and the data options.");
        return data;
    }

    /// <summary>The samples with their texts as the dataset gives them (raw reports, captions); not for shards:DIR.</summary>
    public RawDataset ReadRaw(string workDirectory, int imageSize, int seed, Action<string>? log = null, int syntheticStudies = DefaultSyntheticStudies,
        DatasetOptions? options = null, IProgress<WorkProgress>? progress = null)
    {
        options ??= new DatasetOptions();
        string root = Root(workDirectory);
        if (Kind == Synthetic && !File.Exists(System.IO.Path.Combine(root, MimicCxrLayout.SplitTable)))
        {
            log?.Invoke($"Generating {syntheticStudies} synthetic studies at {imageSize} px in {root} ...");
            SyntheticChestXrayGenerator.Generate(root, syntheticStudies, imageSize, seed, progress);
        }
        ExistingRoot(workDirectory);
        return Kind switch
        {
            Synthetic => MimicCxrReader.Read(root, options with { Uncertain = options.Uncertain ?? UncertainLabelPolicy.KeepName }),
            Mimic => MimicCxrReader.Read(root, options),
            Roco => RocoReader.Read(root),
            Manifest => ManifestReader.Read(root, options),
            _ => throw new InvalidOperationException($"Dataset kind {Kind} has no raw texts to read."),
        };
    }

    private string Root(string workDirectory) => Path ?? System.IO.Path.Combine(workDirectory, "synthetic-data");

    private string ExistingRoot(string workDirectory)
    {
        string root = Root(workDirectory);
        if (Kind != Manifest && !Directory.Exists(root)) throw new DirectoryNotFoundException($"Dataset folder '{root}' does not exist.");
        return root;
    }
}

/// <summary>Samples split into train, validate and test, each with its training text, and what reading them skipped.</summary>
public sealed record LoadedDataset(IReadOnlyList<ImageTextSample> Train, IReadOnlyList<ImageTextSample> Validation,
    IReadOnlyList<ImageTextSample> Test, LoadSummary Summary)
{
    public const string SkippedEmptyText = TrainingText.SkippedEmptyText;

    /// <summary>Token ids stored by prep with their vocabulary (shards:DIR only); null for raw datasets.</summary>
    public Shards.PreparedTokens? Tokens { get; init; }

    /// <summary>Raw samples with the text <paramref name="text"/> makes of theirs; samples without one are skipped by reason.</summary>
    public static LoadedDataset FromRaw(RawDataset raw, TrainingText text) => Build(raw, text.Of);

    /// <summary>Reports reduced to the training text by <see cref="ReportSectionParser"/>; unusable reports are skipped by reason.</summary>
    public static LoadedDataset FromReports(RawDataset raw, IReadOnlyList<string>? sections = null, bool mimicStudyRules = false) =>
        FromRaw(raw, TrainingText.Report(sections, mimicStudyRules));

    /// <summary>Captions used as they are, whitespace collapsed; empty ones are skipped.</summary>
    public static LoadedDataset FromTexts(RawDataset raw) => FromRaw(raw, TrainingText.Caption);

    /// <summary>Samples whose text is already the training text (prep shards).</summary>
    public static LoadedDataset FromTexts(IReadOnlyList<ImageTextSample> samples, LoadSummary summary) => BySplit(samples, summary);

    private static LoadedDataset Build(RawDataset raw, Func<ImageTextSample, (string? Text, string? Skip)> text)
    {
        var kept = new List<ImageTextSample>(raw.Samples.Count);
        foreach (ImageTextSample sample in raw.Samples)
        {
            (string? training, string? skip) = text(sample);
            if (training is null)
            {
                raw.Summary.Reject(skip!);
                continue;
            }
            kept.Add(sample with { Text = training });
        }
        return BySplit(kept, raw.Summary);
    }

    private static LoadedDataset BySplit(IReadOnlyList<ImageTextSample> samples, LoadSummary summary) => new(
        samples.Where(s => s.Split == "train").ToList(),
        samples.Where(s => s.Split == "validate").ToList(),
        samples.Where(s => s.Split == "test").ToList(),
        summary);

    public IReadOnlyList<ImageTextSample> Split(string name) => name switch
    {
        "train" => Train,
        "validate" or "validation" => Validation,
        "test" => Test,
        _ => throw new ArgumentException($"--split '{name}' is not one of train, validate, test."),
    };

    public override string ToString() => $"{Train.Count} train, {Validation.Count} validate, {Test.Count} test; {Summary}";
}
