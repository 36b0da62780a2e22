namespace MedClip.Data;

/// <summary>
/// The 14 CheXpert observations in MIMIC-CXR's column order, and the five of the CheXpert
/// competition that zero-shot evaluation reports.
/// </summary>
public static class ChexpertLabels
{
    public static IReadOnlyList<string> All { get; } =
    [
        "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
        "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
        "Pneumothorax", "Support Devices",
    ];

    public static IReadOnlyList<string> Competition { get; } =
        ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"];
}
