using MedClip.Data.Mimic;
using MedClip.Data.Synthetic;
using MedClip.Data.Text;

namespace MedClip.Data;

/// <summary>A dataset named on the command line: <c>synthetic</c> or <c>mimic:DIR</c>.</summary>
public sealed record DatasetSpec(string Kind, string? Path)
{
    public const string Synthetic = "synthetic";
    public const string Mimic = "mimic";

    /// <summary>Studies of the built-in synthetic set.</summary>
    public const int DefaultSyntheticStudies = 2000;

    public static DatasetSpec Parse(string spec)
    {
        if (spec == Synthetic) return new DatasetSpec(Synthetic, null);
        int colon = spec.IndexOf(':');
        string kind = colon < 0 ? spec : spec[..colon];
        string path = colon < 0 ? "" : spec[(colon + 1)..];
        return kind switch
        {
            Mimic when path.Length > 0 => new DatasetSpec(Mimic, path),
            "roco" or "manifest" or "shards" => throw new ArgumentException($"--data {spec}: {kind} datasets are not supported in this version; use synthetic or mimic:DIR."),
            _ => throw new ArgumentException($"--data '{spec}' is not a dataset; use synthetic or mimic:DIR (a MIMIC-CXR-JPG folder)."),
        };
    }

    /// <summary>
    /// Reads the samples with their training text (report sections extracted). The synthetic set is generated under
    /// <paramref name="workDirectory"/> on first use and reused afterwards.
    /// </summary>
    public LoadedDataset Load(string workDirectory, int imageSize, int seed, Action<string>? log = null, int syntheticStudies = DefaultSyntheticStudies)
    {
        string root = Path ?? System.IO.Path.Combine(workDirectory, "synthetic-data");
        if (Kind == Synthetic && !File.Exists(System.IO.Path.Combine(root, "mimic-cxr-2.0.0-split.csv")))
        {
            log?.Invoke($"Generating {syntheticStudies} synthetic studies at {imageSize} px in {root} ...");
            SyntheticChestXrayGenerator.Generate(root, syntheticStudies, imageSize, seed);
        }
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"Dataset folder '{root}' does not exist.");
        var mimic = MimicCxrReader.Read(root);
        return LoadedDataset.FromReports(mimic.Samples, mimic.Summary);
    }
}

/// <summary>Samples split by MIMIC's split names, each with its report reduced to the training text.</summary>
public sealed record LoadedDataset(IReadOnlyList<ImageTextSample> Train, IReadOnlyList<ImageTextSample> Validation,
    IReadOnlyList<ImageTextSample> Test, LoadSummary Summary, IReadOnlyDictionary<string, int> UnusableReports)
{
    public static LoadedDataset FromReports(IReadOnlyList<ImageTextSample> samples, LoadSummary summary)
    {
        var kept = new List<ImageTextSample>(samples.Count);
        var unusable = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var sample in samples)
        {
            var parsed = ReportSectionParser.Parse(sample.Text);
            if (!parsed.IsUsable)
            {
                string reason = $"report {parsed.SkipReason}";
                unusable[reason] = unusable.GetValueOrDefault(reason) + 1;
                continue;
            }
            kept.Add(sample with { Text = parsed.Text });
        }
        return new LoadedDataset(
            kept.Where(s => s.Split == "train").ToList(),
            kept.Where(s => s.Split == "validate").ToList(),
            kept.Where(s => s.Split == "test").ToList(),
            summary, unusable);
    }

    public IReadOnlyList<ImageTextSample> Split(string name) => name switch
    {
        "train" => Train,
        "validate" or "validation" => Validation,
        "test" => Test,
        _ => throw new ArgumentException($"--split '{name}' is not one of train, validate, test."),
    };

    public override string ToString() =>
        $"{Train.Count} train, {Validation.Count} validate, {Test.Count} test; {Summary}" +
        (UnusableReports.Count == 0 ? "" : "; " + string.Join(", ", UnusableReports.Select(p => $"{p.Value} {p.Key}")));
}
