using System.Globalization;
using MedClip.Data.Mimic;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace MedClip.Data.Synthetic;

/// <summary>What a generation run wrote.</summary>
public sealed record SyntheticDatasetSummary(
    string Root,
    int Subjects,
    int Studies,
    int ImageSize,
    IReadOnlyDictionary<string, int> StudiesBySplit,
    IReadOnlyDictionary<string, int> PositiveStudiesByLabel);

/// <summary>
/// Writes a synthetic chest X-ray dataset in the MIMIC-CXR-JPG layout (<see cref="MimicCxrLayout"/>):
/// one frontal grayscale JPEG and one free-text report per study, some patients with several
/// studies, and the metadata, split (by patient, about 80/10/10) and CheXpert label tables. Each
/// study's findings decide its image, its report and its labels, so all three agree. The output is
/// byte-identical for the same seed and size: ids are drawn in order from the seed, and each
/// patient and study draws from its own generator seeded by (seed, index), so studies can be made
/// in parallel.
/// </summary>
public static class SyntheticChestXrayGenerator
{
    private sealed record PlannedStudy(int Index, int SubjectIndex, string SubjectId, string StudyId, string DicomId, string Split,
        char Sex, bool Portable, DateTime Taken);

    private static readonly JpegEncoder Encoder = new() { Quality = 92, ColorType = JpegColorType.Luminance };

    public static SyntheticDatasetSummary Generate(string outDir, int studies, int imageSize, int seed, IProgress<WorkProgress>? progress = null)
    {
        if (studies < 1)
            throw new ArgumentOutOfRangeException(nameof(studies), studies, "The number of studies must be at least 1.");
        if (imageSize is < 32 or > 2048)
            throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "The image size must be between 32 and 2048 pixels.");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new IOException($"Output folder '{outDir}' is not empty; give a new folder or delete this one first.");
        Directory.CreateDirectory(outDir);

        (List<PlannedStudy> plan, int subjects) = Plan(studies, seed);
        var patients = new PatientBuild[subjects];
        foreach (PlannedStudy study in plan)
            patients[study.SubjectIndex] ??= PatientBuild.Sample(new Random(StreamSeed(seed, 1, study.SubjectIndex)), study.Sex);

        // ImageSharp would parallelise each small encode itself; the studies are already spread over the cores.
        Configuration imageConfiguration = Configuration.Default.Clone();
        imageConfiguration.MaxDegreeOfParallelism = 1;
        var labels = new IReadOnlyDictionary<string, float?>[plan.Count];
        int done = 0;
        Parallel.For(0, plan.Count, i =>
        {
            PlannedStudy study = plan[i];
            var rng = new Random(StreamSeed(seed, 2, study.Index));
            SyntheticFindings findings = SyntheticFindings.Sample(rng);
            Acquisition acquisition = Acquisition.Sample(rng, study.Portable);
            var anatomy = new ThoraxAnatomy(patients[study.SubjectIndex], acquisition, findings, rng);
            var layers = new FindingLayers(anatomy, findings, rng);
            byte[] pixels = ThoraxRenderer.Render(anatomy, layers, acquisition, imageSize, rng);
            string report = SyntheticReportWriter.Write(findings, ViewPosition(study), study.Sex, rng);

            string imagePath = Path.Combine(outDir, MimicCxrLayout.ImagePath(study.SubjectId, study.StudyId, study.DicomId));
            Directory.CreateDirectory(Path.GetDirectoryName(imagePath)!);
            using (Image<L8> image = Image.LoadPixelData<L8>(imageConfiguration, pixels, imageSize, imageSize))
                image.SaveAsJpeg(imagePath, Encoder);
            File.WriteAllText(Path.Combine(outDir, MimicCxrLayout.ReportPath(study.SubjectId, study.StudyId)), report);
            labels[i] = findings.Labels();
            progress?.Report(new WorkProgress("generating studies", Interlocked.Increment(ref done), plan.Count));
        });

        WriteTables(outDir, plan, labels, imageSize);
        return Summarize(outDir, plan, labels, subjects, imageSize);
    }

    /// <summary>Patients (most with one study, some with up to four), their ids, splits and study dates, drawn in order from the seed.</summary>
    private static (List<PlannedStudy> Plan, int Subjects) Plan(int studies, int seed)
    {
        var rng = new Random(seed);
        var subjectIds = new HashSet<int>();
        var studyIds = new HashSet<int>();
        var plan = new List<PlannedStudy>(studies);
        int subjectIndex = 0;
        while (plan.Count < studies)
        {
            int subjectId = DrawUnique(rng, subjectIds, 10_000_000, 20_000_000);
            double draw = rng.NextDouble();
            int count = Math.Min(studies - plan.Count, draw < 0.7 ? 1 : draw < 0.88 ? 2 : draw < 0.96 ? 3 : 4);
            double splitDraw = rng.NextDouble();
            string split = splitDraw < 0.8 ? "train" : splitDraw < 0.9 ? "validate" : "test";
            char sex = rng.NextDouble() < 0.5 ? 'F' : 'M';
            DateTime taken = new DateTime(2110 + rng.Next(80), 1, 1).AddDays(rng.Next(365)).AddSeconds(rng.Next(86_400)).AddMilliseconds(rng.Next(1000));
            for (int s = 0; s < count; s++)
            {
                int studyId = DrawUnique(rng, studyIds, 50_000_000, 60_000_000);
                plan.Add(new PlannedStudy(plan.Count, subjectIndex, subjectId.ToString(CultureInfo.InvariantCulture),
                    studyId.ToString(CultureInfo.InvariantCulture), DicomId(rng), split, sex, Portable: rng.NextDouble() < 0.3, taken));
                taken = taken.AddDays(rng.Next(2, 400)).AddSeconds(rng.Next(-20_000, 20_000));
            }
            subjectIndex++;
        }
        return (plan, subjectIndex);
    }

    private static int DrawUnique(Random rng, HashSet<int> used, int low, int high)
    {
        int id;
        do id = rng.Next(low, high);
        while (!used.Add(id));
        return id;
    }

    /// <summary>MIMIC's dicom ids: five groups of eight hex digits.</summary>
    private static string DicomId(Random rng) =>
        string.Join('-', Enumerable.Range(0, 5).Select(_ => ((uint)rng.NextInt64(0, 1L << 32)).ToString("x8", CultureInfo.InvariantCulture)));

    /// <summary>A seed for stream <paramref name="stream"/>, item <paramref name="index"/>: SplitMix64's finaliser over the three numbers.</summary>
    private static int StreamSeed(int seed, int stream, int index)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)index) ^ ((ulong)stream * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)((z ^ (z >> 31)) & int.MaxValue);
    }

    private static string ViewPosition(PlannedStudy study) => study.Portable ? "AP" : "PA";

    private static void WriteTables(string outDir, List<PlannedStudy> plan, IReadOnlyDictionary<string, float?>[] labels, int imageSize)
    {
        // MIMIC's tables are ordered by patient, then study.
        PlannedStudy[] ordered = plan.OrderBy(s => s.SubjectId, StringComparer.Ordinal).ThenBy(s => s.StudyId, StringComparer.Ordinal).ToArray();
        string size = imageSize.ToString(CultureInfo.InvariantCulture);

        CsvWriter.Write(Path.Combine(outDir, MimicCxrLayout.MetadataTable), MimicCxrLayout.MetadataColumns, ordered.Select(s =>
        {
            string procedure = s.Portable ? "CHEST (PORTABLE AP)" : "CHEST (PA AND LAT)";
            return (IReadOnlyList<string>)
            [
                s.DicomId, s.SubjectId, s.StudyId, procedure, ViewPosition(s), size, size,
                s.Taken.ToString("yyyyMMdd", CultureInfo.InvariantCulture), s.Taken.ToString("HHmmss.fff", CultureInfo.InvariantCulture),
                procedure, s.Portable ? "antero-posterior" : "postero-anterior", s.Portable ? "Recumbent" : "Erect",
            ];
        }));
        CsvWriter.Write(Path.Combine(outDir, MimicCxrLayout.SplitTable), MimicCxrLayout.SplitColumns,
            ordered.Select(s => (IReadOnlyList<string>)[s.DicomId, s.StudyId, s.SubjectId, s.Split]));
        CsvWriter.Write(Path.Combine(outDir, MimicCxrLayout.ChexpertTable), MimicCxrLayout.ChexpertColumns,
            ordered.Select(s => (IReadOnlyList<string>)
                [s.SubjectId, s.StudyId, .. ChexpertLabels.All.Select(label => MimicCxrLayout.FormatLabel(labels[s.Index][label]))]));
    }

    private static SyntheticDatasetSummary Summarize(string outDir, List<PlannedStudy> plan, IReadOnlyDictionary<string, float?>[] labels,
        int subjects, int imageSize)
    {
        var bySplit = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (PlannedStudy study in plan)
            bySplit[study.Split] = bySplit.GetValueOrDefault(study.Split) + 1;
        var positives = ChexpertLabels.All.ToDictionary(label => label, label => labels.Count(l => l[label] == 1f), StringComparer.Ordinal);
        return new SyntheticDatasetSummary(outDir, subjects, plan.Count, imageSize, bySplit, positives);
    }
}
