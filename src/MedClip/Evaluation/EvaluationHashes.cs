using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MedClip.Data;
using MedClip.IO;
using MedClip.Training;

namespace MedClip.Evaluation;

/// <summary>Fingerprints that tie an evaluation's numbers to exactly what was evaluated.</summary>
public static class EvaluationHashes
{
    /// <summary>SHA-256 of the checkpoint's model.safetensors, lower-case hex.</summary>
    public static string Checkpoint(string checkpoint) => FileHash.Sha256(Path.Combine(checkpoint, CheckpointStore.WeightsFile));

    /// <summary>
    /// SHA-256 over the evaluated images in order, one UTF-8 line each: dicom_id, study_id, then the 14 CheXpert
    /// labels in MIMIC's column order (1, 0, -1, or empty when not mentioned), tab-separated.
    /// </summary>
    public static string Data(IReadOnlyList<ImageTextSample> samples)
    {
        var text = new StringBuilder();
        foreach (var s in samples)
        {
            text.Append(s.DicomId).Append('\t').Append(s.StudyId);
            foreach (string label in ChexpertLabels.All)
                text.Append('\t').Append(LabelText(s.Labels.GetValueOrDefault(label)));
            text.Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    public static string LabelText(float? label) => label is float v ? ((int)v).ToString(CultureInfo.InvariantCulture) : "";
}
