using System.CommandLine;
using MedClip.Data;
using MedClip.Data.Mimic;
using MedClip.Data.Text;

namespace MedClip.Cli.Commands;

/// <summary>
/// The options that say how a dataset is read (<see cref="DatasetOptions"/>), declared once for train, eval, prep and
/// bench so that their names, defaults and checks agree. Evaluation reads labels as they are (uncertain kept as -1)
/// and decides itself what an uncertain label counts as, so it is built without the label-mapping option.
/// </summary>
internal sealed class DataOptionSet
{
    private readonly bool _mapUncertainLabels;


    public const string SpecDescription = "Dataset: synthetic, mimic:DIR, roco:DIR, manifest:FILE (CSV or JSONL) or shards:DIR (from prep).";

    private readonly Option<string> _views = new("--views")
    {
        Description = "MIMIC ViewPosition values to keep, comma-separated, or 'all' (default PA,AP: frontal views).",
        DefaultValueFactory = _ => string.Join(',', MimicCxrReader.FrontalViews),
    };

    private readonly Option<string?> _sections = new("--sections")
    {
        Description = "MIMIC report sections in order: impression, findings, last_paragraph, comparison, final, a|b.",
    };

    private readonly Option<string> _labels = new("--labels")
    {
        Description = "MIMIC label table: chexpert or negbio.",
        DefaultValueFactory = _ => MimicCxrLayout.ChexpertSource,
    };

    private readonly Option<string?> _uncertain = new("--uncertain")
    {
        Description = "Uncertain (-1) labels: gloria (U-ones for Atelectasis, Edema, Pleural Effusion; U-zeros for Cardiomegaly, Consolidation; " +
            "others kept), ones, zeros or keep, then optional ,Label=ones|zeros|keep overrides (default gloria; keep for synthetic).",
    };

    private readonly Option<string?> _reports = new("--reports") { Description = "MIMIC-CXR reports folder (files/pXX/pSUBJECT/sSTUDY.txt) when the reports are not beside the images." };
    private readonly Option<string> _imageColumn = new("--image-column") { Description = "Manifest column with the image path.", DefaultValueFactory = _ => "image" };
    private readonly Option<string> _textColumn = new("--text-column") { Description = "Manifest column with the text.", DefaultValueFactory = _ => "text" };
    private readonly Option<string> _splitColumn = new("--split-column") { Description = "Manifest column with the split (train, validate, test), if any.", DefaultValueFactory = _ => "split" };
    private readonly Option<string?> _labelColumns = new("--label-columns") { Description = "Manifest label columns (1/0/-1/blank), comma-separated (default: columns holding only such values)." };
    private readonly Option<bool> _allowOutsideRoot = new("--allow-outside-root") { Description = "Accept manifest image paths outside the manifest's folder ('..', absolute paths)." };

    public DataOptionSet(bool mapUncertainLabels = true)
    {
        _mapUncertainLabels = mapUncertainLabels;
        _labels.AcceptOnlyFromAmong(MimicCxrLayout.ChexpertSource, MimicCxrLayout.NegbioSource);
        _uncertain.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is string text)
            {
                try
                {
                    UncertainLabelPolicy.Parse(text);
                }
                catch (ArgumentException e)
                {
                    result.AddError(e.Message);
                }
            }
        });
    }

    public void AddTo(Command command)
    {
        foreach (Option option in Options) command.Options.Add(option);
    }

    /// <summary>The names of the options in this set (--views, --sections, ...).</summary>
    public IEnumerable<string> Names => Options.Select(o => o.Name);

    private IEnumerable<Option> Options =>
        new Option[] { _views, _sections, _labels, _uncertain, _reports, _imageColumn, _textColumn, _splitColumn, _labelColumns, _allowOutsideRoot }
            .Where(option => option != _uncertain || _mapUncertainLabels);

    public DatasetOptions Read(ParseResult parsed)
    {
        string views = parsed.GetValue(_views)!;
        return new DatasetOptions
        {
            Views = views.Equals("all", StringComparison.OrdinalIgnoreCase) ? [] : List(views),
            Sections = parsed.GetValue(_sections) is string sections
                ? [.. List(sections).Select(wanted => string.Join('|', wanted.Split('|').Select(ReportSectionNames.Normalize)))]
                : null,
            Labels = parsed.GetValue(_labels)!,
            Uncertain = _mapUncertainLabels ? parsed.GetValue(_uncertain) : UncertainLabelPolicy.KeepName,
            ReportsDirectory = parsed.GetValue(_reports),
            ImageColumn = parsed.GetValue(_imageColumn)!,
            TextColumn = parsed.GetValue(_textColumn)!,
            SplitColumn = parsed.GetValue(_splitColumn)!,
            LabelColumns = parsed.GetValue(_labelColumns) is string labelColumns ? List(labelColumns) : null,
            AllowOutsideRoot = parsed.GetValue(_allowOutsideRoot),
        };
    }

    private static string[] List(string text) => text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
