namespace MedClip.Data.Mimic;

/// <summary>
/// What an uncertain label (-1 in the CheXpert and NegBio tables) becomes: 1 (U-ones), 0 (U-zeros) or stays -1 (keep,
/// which evaluation leaves out of the AUROC). Written as a default then per-label overrides, e.g. "zeros",
/// "gloria,Edema=zeros" or "keep,Atelectasis=ones".
/// <para>"gloria" is GLoRIA's choice (its constants.py CHEXPERT_UNCERTAIN_MAPPINGS, taken from the CheXpert paper's
/// best policy per label): U-ones for Atelectasis, Edema and Pleural Effusion, U-zeros for Cardiomegaly and
/// Consolidation, the other labels kept as -1 (GLoRIA maps only the five competition labels).</para>
/// </summary>
public sealed class UncertainLabelPolicy
{
    public const string GloriaName = "gloria";
    public const string KeepName = "keep";

    private static readonly Dictionary<string, float> Mappings = new(StringComparer.OrdinalIgnoreCase)
    {
        ["ones"] = 1f, ["zeros"] = 0f, [KeepName] = -1f,
    };

    private static readonly Dictionary<string, float> Gloria = new(StringComparer.Ordinal)
    {
        ["Atelectasis"] = 1f, ["Cardiomegaly"] = 0f, ["Consolidation"] = 0f, ["Edema"] = 1f, ["Pleural Effusion"] = 1f,
    };

    private readonly Dictionary<string, float> _byLabel;
    private readonly float _default;

    private UncertainLabelPolicy(Dictionary<string, float> byLabel, float defaultValue)
    {
        _byLabel = byLabel;
        _default = defaultValue;
    }

    public static UncertainLabelPolicy Parse(string text)
    {
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
            throw new ArgumentException("--uncertain is empty; use gloria, ones, zeros or keep, optionally followed by ,Label=ones|zeros|keep.");
        Dictionary<string, float> byLabel;
        float defaultValue;
        if (parts[0].Equals(GloriaName, StringComparison.OrdinalIgnoreCase))
        {
            byLabel = new Dictionary<string, float>(Gloria, StringComparer.Ordinal);
            defaultValue = -1f;
        }
        else
        {
            byLabel = new Dictionary<string, float>(StringComparer.Ordinal);
            defaultValue = Mapping(parts[0]);
        }
        foreach (string part in parts[1..])
        {
            int equals = part.IndexOf('=');
            string label = equals < 0 ? "" : part[..equals].Trim();
            if (!ChexpertLabels.All.Contains(label))
                throw new ArgumentException($"--uncertain '{part}' is not Label=ones|zeros|keep with a CheXpert label ({string.Join(", ", ChexpertLabels.All)}).");
            byLabel[label] = Mapping(part[(equals + 1)..].Trim());
        }
        return new UncertainLabelPolicy(byLabel, defaultValue);
    }

    /// <summary>The label's value after mapping: 1, 0 and null pass through, -1 becomes the label's choice.</summary>
    public float? Apply(string label, float? value) =>
        value == -1f ? _byLabel.GetValueOrDefault(label, _default) : value;

    private static float Mapping(string name) =>
        Mappings.TryGetValue(name, out float value)
            ? value
            : throw new ArgumentException($"--uncertain '{name}' is not one of gloria, ones, zeros, keep.");
}
