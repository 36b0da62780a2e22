namespace MedClip.Data;

/// <summary>
/// One image with the text that describes it. For MIMIC-CXR the text is the study's raw report and
/// <paramref name="Labels"/> holds the CheXpert values by column name: 1 positive, 0 negated,
/// -1 uncertain, null when the report does not mention the observation.
/// </summary>
public sealed record ImageTextSample(
    string ImagePath,
    string Text,
    string Split,
    string SubjectId,
    string StudyId,
    string DicomId,
    string? ViewPosition,
    IReadOnlyDictionary<string, float?> Labels);
