using System.Text;
using System.Text.RegularExpressions;

namespace MedClip.Data.Roco;

/// <summary>
/// Reads ROCO (Radiology Objects in COntext) as its repository lays it out: data/{train,validation,test}/radiology/
/// holds captions.txt, one "ROCO_00002&lt;TAB&gt;caption" line per figure, dlinks.txt and the images/ folder that the
/// repository's scripts/fetch.py fills. Since January 2022 fetch.py names each image after its id (images/ROCO_00002.jpg);
/// images fetched before then, named "&lt;PMC id&gt;_&lt;file name&gt;" from the figure's dlinks.txt line
/// ("ROCO_00002&lt;TAB&gt;wget -r ftp://…/PMC1234.tar.gz -P /tmp&lt;TAB&gt;fig2.jpg"), are read too. A captions line that does not start with an id and a tab continues
/// the caption before it. The folder given may be the repository root or its data/ folder. Only the radiology subset
/// is read; "validation" becomes the "validate" split. Unusable lines are skipped and counted by reason.
/// </summary>
public static partial class RocoReader
{
    public const string SkippedMalformedLine = "caption line without an id";
    public const string SkippedDuplicateId = "duplicate image id";
    public const string SkippedMissingImage = "missing image";

    private static readonly (string Folder, string Split)[] Splits = [("train", "train"), ("validation", "validate"), ("test", "test")];

    private static readonly IReadOnlyDictionary<string, float?> NoLabels = new Dictionary<string, float?>();

    /// <summary>captions.txt of a split, relative to the data folder.</summary>
    public static string CaptionsPath(string splitFolder) => Path.Combine(splitFolder, "radiology", "captions.txt");

    /// <summary>dlinks.txt of a split, relative to the data folder.</summary>
    public static string LinksPath(string splitFolder) => Path.Combine(splitFolder, "radiology", "dlinks.txt");

    /// <summary>An image under a split's images folder, relative to the data folder.</summary>
    public static string ImagePath(string splitFolder, string fileName) => Path.Combine(splitFolder, "radiology", "images", fileName);

    [GeneratedRegex(@"^(?<id>ROCO_\d+)\t(?<rest>.*)$")]
    private static partial Regex IdLine();

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
            Dictionary<string, string> fileNames = ReadLinks(Path.Combine(data, LinksPath(folder)));
            foreach ((string id, string caption) in Captions(captions, summary))
            {
                if (!seen.Add(id))
                {
                    summary.CountSkipped(SkippedDuplicateId);
                    continue;
                }
                string? image = new[] { id + ".jpg", fileNames.GetValueOrDefault(id) }.OfType<string>()
                    .Select(name => Path.Combine(data, ImagePath(folder, name))).FirstOrDefault(File.Exists);
                if (image is null)
                {
                    summary.CountSkipped(SkippedMissingImage);
                    continue;
                }
                samples.Add(new ImageTextSample(image, caption, split, "", id, id, null, NoLabels));
                summary.CountKept();
            }
        }
        return new RawDataset(samples, summary);
    }

    /// <summary>The captions in file order, continuation lines joined to the caption they continue.</summary>
    private static List<(string Id, string Caption)> Captions(string path, LoadSummary summary)
    {
        var captions = new List<(string Id, string Caption)>();
        IO.PosixFileSystem.RequireRegularFile(path);
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            if (line.Length == 0)
                continue;
            Match match = IdLine().Match(line);
            if (match.Success)
                captions.Add((match.Groups["id"].Value, match.Groups["rest"].Value));
            else if (captions.Count > 0)
                captions[^1] = (captions[^1].Id, captions[^1].Caption + "\n" + line);
            else
                summary.CountSkipped(SkippedMalformedLine);
        }
        return captions;
    }

    /// <summary>Image file names by id as fetch.py saved them before January 2022: the archive's PMC id, "_", the file name in the archive.</summary>
    private static Dictionary<string, string> ReadLinks(string path)
    {
        var fileNames = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path))
            return fileNames;
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            string[] parts = line.Split('\t');
            string[] command = parts.Length >= 3 ? parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
            if (command.Length < 3)
                continue;
            string archive = command[2][(command[2].LastIndexOf('/') + 1)..];
            if (archive.EndsWith(".tar.gz", StringComparison.Ordinal))
                fileNames.TryAdd(parts[0].Trim(), archive[..^".tar.gz".Length] + "_" + parts[^1].Trim());
        }
        return fileNames;
    }
}
