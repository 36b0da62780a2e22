namespace MedClip.Data.Mimic;

/// <summary>
/// Where MIMIC-CXR-JPG keeps things: the three CSV tables at the root, then
/// files/p10/p10000032/s50414267/&lt;dicom_id&gt;.jpg with the study's report beside its folder as
/// files/p10/p10000032/s50414267.txt (the folder pXX is the first two digits of the subject id).
/// The synthetic generator writes this layout and the reader reads it.
/// </summary>
public static class MimicCxrLayout
{
    public const string MetadataTable = "mimic-cxr-2.0.0-metadata.csv";
    public const string SplitTable = "mimic-cxr-2.0.0-split.csv";
    public const string ChexpertTable = "mimic-cxr-2.0.0-chexpert.csv";
    public const string NegbioTable = "mimic-cxr-2.0.0-negbio.csv";

    /// <summary>The label sources: the CheXpert labeler's table or NegBio's (same columns).</summary>
    public const string ChexpertSource = "chexpert";
    public const string NegbioSource = "negbio";

    public static string LabelTable(string source) => source switch
    {
        ChexpertSource => ChexpertTable,
        NegbioSource => NegbioTable,
        _ => throw new ArgumentException($"--labels '{source}' is not one of {ChexpertSource}, {NegbioSource}."),
    };

    public static IReadOnlyList<string> MetadataColumns { get; } =
    [
        "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows", "Columns",
        "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
        "PatientOrientationCodeSequence_CodeMeaning",
    ];

    public static IReadOnlyList<string> SplitColumns { get; } = ["dicom_id", "study_id", "subject_id", "split"];

    /// <summary>subject_id, study_id, then the 14 CheXpert labels.</summary>
    public static IReadOnlyList<string> ChexpertColumns { get; } = ["subject_id", "study_id", .. ChexpertLabels.All];

    /// <summary>files/pXX/pSUBJECT/sSTUDY, relative to the dataset root; ids are given without their p/s prefix.</summary>
    public static string StudyFolder(string subjectId, string studyId) =>
        Path.Combine("files", "p" + subjectId[..Math.Min(2, subjectId.Length)], "p" + subjectId, "s" + studyId);

    public static string ImagePath(string subjectId, string studyId, string dicomId) =>
        Path.Combine(StudyFolder(subjectId, studyId), dicomId + ".jpg");

    public static string ReportPath(string subjectId, string studyId) => StudyFolder(subjectId, studyId) + ".txt";

    /// <summary>The table's path under <paramref name="root"/>, plain or gzipped; null when neither exists.</summary>
    public static string? FindTable(string root, string table)
    {
        string plain = Path.Combine(root, table);
        if (File.Exists(plain))
            return plain;
        string gzipped = plain + ".gz";
        return File.Exists(gzipped) ? gzipped : null;
    }

    /// <summary>CheXpert's encoding: "1.0", "0.0", "-1.0", or empty for not mentioned.</summary>
    public static string FormatLabel(float? value) => value switch
    {
        null => "",
        1f => "1.0",
        0f => "0.0",
        -1f => "-1.0",
        _ => throw new ArgumentOutOfRangeException(nameof(value), value, "CheXpert labels are 1, 0, -1 or blank."),
    };
}
