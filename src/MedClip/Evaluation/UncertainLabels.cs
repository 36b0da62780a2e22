namespace MedClip.Evaluation;

/// <summary>What an uncertain CheXpert label (-1) counts as: left out of that label's metrics (default), positive or negative.</summary>
public enum UncertainLabels
{
    Exclude,
    Positive,
    Negative,
}

/// <summary>CheXpert-coded labels as binary targets.</summary>
public static class BinaryTargets
{
    public static UncertainLabels Parse(string name) => name switch
    {
        "exclude" => UncertainLabels.Exclude,
        "positive" => UncertainLabels.Positive,
        "negative" => UncertainLabels.Negative,
        _ => throw new ArgumentException($"--uncertain '{name}' is not one of exclude, positive, negative."),
    };

    public static string Name(UncertainLabels policy) => policy.ToString().ToLowerInvariant();

    /// <summary>1 positive; 0 (negated) and blank (not mentioned) negative; -1 by <paramref name="uncertain"/>, null when excluded.</summary>
    public static bool? Of(float? label, UncertainLabels uncertain) => label switch
    {
        1f => true,
        -1f => uncertain switch
        {
            UncertainLabels.Positive => true,
            UncertainLabels.Negative => false,
            _ => null,
        },
        _ => false,
    };
}
