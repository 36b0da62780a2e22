using System.Text;

namespace MedClip.Data.Roco;

/// <summary>
/// Reads ROCO (Radiology Objects in COntext) as its repository lays it out: data/{train,validation,test}/radiology/
/// holds captions.txt, one "ROCO_00002&lt;TAB&gt;caption" line per figure, and images/ROCO_00002.jpg. The folder given
/// may be the repository root or its data/ folder. Only the radiology subset is read; "validation" becomes the
/// "validate" split. Unusable lines are skipped and counted by reason.
/// </summary>
public static class RocoReader
{
    public const string SkippedMalformedLine = "caption line without a tab";
    public const string SkippedDuplicateId = "duplicate image id";
    public const string SkippedMissingImage = "missing image";

    private static readonly (string Folder, string Split)[] Splits = [("train", "train"), ("validation", "validate"), ("test", "test")];

    private static readonly IReadOnlyDictionary<string, float?> NoLabels = new Dictionary<string, float?>();

    /// <summary>captions.txt of a split, relative to the data folder.</summary>
    public static string CaptionsPath(string splitFolder) => Path.Combine(splitFolder, "radiology", "captions.txt");

    public static string ImagePath(string splitFolder, string id) => Path.Combine(splitFolder, "radiology", "images", id + ".jpg");

    public static RawDataset Read(string root)
    {
        string data = Directory.Exists(Path.Combine(root, "data")) ? Path.Combine(root, "data") : root;
        if (!Splits.Any(s => File.Exists(Path.Combine(data, CaptionsPath(s.Folder)))))
            throw new FileNotFoundException(
                $"ROCO folder '{root}' has no data/{{train,validation,test}}/radiology/captions.txt; give the ROCO repository folder after fetching its images.");

        var summary = new LoadSummary();
        var samples = new List<ImageTextSample>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string folder, string split) in Splits)
        {
            string captions = Path.Combine(data, CaptionsPath(folder));
            if (!File.Exists(captions))
                continue;
            foreach (string line in File.ReadLines(captions, Encoding.UTF8))
            {
                if (line.Length == 0)
                    continue;
                int tab = line.IndexOf('\t');
                if (tab < 0)
                {
                    summary.CountSkipped(SkippedMalformedLine);
                    continue;
                }
                string id = line[..tab].Trim();
                if (!seen.Add(id))
                {
                    summary.CountSkipped(SkippedDuplicateId);
                    continue;
                }
                string image = Path.Combine(data, ImagePath(folder, id));
                if (!File.Exists(image))
                {
                    summary.CountSkipped(SkippedMissingImage);
                    continue;
                }
                samples.Add(new ImageTextSample(image, line[(tab + 1)..], split, "", id, id, null, NoLabels));
                summary.CountKept();
            }
        }
        return new RawDataset(samples, summary);
    }
}
