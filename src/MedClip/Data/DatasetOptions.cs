using MedClip.Data.Mimic;
using MedClip.Data.Text;

namespace MedClip.Data;

/// <summary>
/// How a dataset is read, beyond its spec: the MIMIC-CXR choices (views, report sections, label source, uncertain
/// labels, a separate reports tree) and the manifest's column names and path policy. Each reader uses its own part.
/// </summary>
public sealed record DatasetOptions
{
    /// <summary>ViewPosition values kept (MIMIC); empty keeps every view.</summary>
    public IReadOnlyList<string> Views { get; init; } = MimicCxrReader.FrontalViews;

    /// <summary>
    /// Report sections joined, in this order, into the training text (MIMIC); "a|b" is section a, or b where a report
    /// has no a; "final" is the official scripts' text. Null is MedClip's own text (<see cref="ReportSectionParser"/>):
    /// impression, findings, addendum, with the official fallbacks.
    /// </summary>
    public IReadOnlyList<string>? Sections { get; init; }

    /// <summary>"chexpert" or "negbio": which MIMIC label table gives the labels.</summary>
    public string Labels { get; init; } = MimicCxrLayout.ChexpertSource;

    /// <summary>
    /// How uncertain (-1) labels map, in <see cref="UncertainLabelPolicy.Parse"/>'s syntax. Null is GLoRIA's choice for
    /// MIMIC-CXR and "keep" for the synthetic set, whose evaluation leaves uncertain labels out as it always has.
    /// </summary>
    public string? Uncertain { get; init; }

    /// <summary>A MIMIC-CXR reports tree (files/pXX/pSUBJECT/sSTUDY.txt) when the reports are not beside the images.</summary>
    public string? ReportsDirectory { get; init; }

    /// <summary>The manifest's image path column.</summary>
    public string ImageColumn { get; init; } = "image";

    /// <summary>The manifest's text column.</summary>
    public string TextColumn { get; init; } = "text";

    /// <summary>The manifest's optional split column; rows of a manifest without it are all training rows.</summary>
    public string SplitColumn { get; init; } = "split";

    /// <summary>The manifest's field separator, ',' or '\t'; null detects it from the header row.</summary>
    public char? CsvSeparator { get; init; }

    /// <summary>The manifest's label columns (1, 0, -1 or blank); null detects them (see <see cref="Manifest.ManifestReader"/>).</summary>
    public IReadOnlyList<string>? LabelColumns { get; init; }

    /// <summary>Whether manifest paths may leave the manifest's folder ("..", absolute paths).</summary>
    public bool AllowOutsideRoot { get; init; }
}
