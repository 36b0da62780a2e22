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


    public const string SpecDescription = "mimic:DIR, roco:DIR, manifest:FILE, shards:DIR, or synthetic";

    private readonly Option<string> _views = new Option<string>("--views")
    {
        Description = "ViewPosition values to keep, or all",
        DefaultValueFactory = _ => string.Join(',', MimicCxrReader.FrontalViews),
    }.In(OptionGroups.Mimic, "LIST");

    private readonly Option<string?> _sections = new Option<string?>("--sections")
    {
        Description = "Report sections, e.g. final or 'impression|findings' (docs/report-text.md)",
    }.In(OptionGroups.Mimic, "LIST");

    private readonly Option<string> _labels = new Option<string>("--labels")
    {
        Description = "Label table.",
        DefaultValueFactory = _ => MimicCxrLayout.ChexpertSource,
    }.In(OptionGroups.Mimic, $"{MimicCxrLayout.ChexpertSource}|{MimicCxrLayout.NegbioSource}");

    private readonly Option<string?> _uncertain = new Option<string?>("--uncertain")
    {
        Description = "How -1 labels count: gloria|ones|zeros|keep[,Label=X]",
    }.In(OptionGroups.Mimic, "P", "gloria");

    private readonly Option<string?> _reports = new Option<string?>("--reports") { Description = "Reports tree (files/pXX/pSUBJECT/sSTUDY.txt) if not beside the images" }
        .In(OptionGroups.Mimic, "DIR");
    private readonly Option<string> _imageColumn = new Option<string>("--image-column") { Description = "Column with the image path.", DefaultValueFactory = _ => "image" }
        .In(OptionGroups.Manifest, "NAME");
    private readonly Option<string> _textColumn = new Option<string>("--text-column") { Description = "Column with the text.", DefaultValueFactory = _ => "text" }
        .In(OptionGroups.Manifest, "NAME");
    private readonly Option<string> _splitColumn = new Option<string>("--split-column")
    {
        Description = "Column with the split (train, validate, test), if any", DefaultValueFactory = _ => "split",
    }.In(OptionGroups.Manifest, "NAME");
    private readonly Option<string> _csvSeparator = new Option<string>("--csv-separator")
    {
        Description = "Field separator; auto reads the header row", DefaultValueFactory = _ => "auto",
    }.In(OptionGroups.Manifest, "auto|comma|tab");
    private readonly Option<string?> _labelColumns = new Option<string?>("--label-columns")
    {
        Description = "Label columns (1/0/-1/blank), comma-separated (default: columns of such values)",
    }.In(OptionGroups.Manifest, "LIST");
    private readonly Option<bool> _allowOutsideRoot = new Option<bool>("--allow-outside-root") { Description = "Accept image paths outside the manifest's folder" }
        .In(OptionGroups.Manifest);

    public DataOptionSet(bool mapUncertainLabels = true)
    {
        _mapUncertainLabels = mapUncertainLabels;
        _labels.AcceptOnlyFromAmong(MimicCxrLayout.ChexpertSource, MimicCxrLayout.NegbioSource);
        _csvSeparator.AcceptOnlyFromAmong("auto", "comma", "tab", ",", "\\t");
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
        new Option[] { _views, _sections, _labels, _uncertain, _reports, _imageColumn, _textColumn, _splitColumn, _csvSeparator, _labelColumns, _allowOutsideRoot }
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
            CsvSeparator = parsed.GetValue(_csvSeparator) switch { "comma" or "," => ',', "tab" or "\\t" => '\t', _ => null },
        };
    }

    private static string[] List(string text) => text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
