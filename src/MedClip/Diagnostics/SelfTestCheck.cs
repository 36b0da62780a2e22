namespace MedClip.Diagnostics;

/// <summary>One comparison of a backend against the reference: the relative error and the tolerance it had to meet.</summary>
public sealed record SelfTestCheck(string Name, double Error, double Tolerance, string? Failure = null)
{
    public bool Passed => Failure is null && Error <= Tolerance;

    public override string ToString() => Failure is not null
        ? $"FAIL {Name}: {Failure}"
        : $"{(Passed ? "ok  " : "FAIL")} {Name}: relative error {Error:0.00e+00} (tolerance {Tolerance:0e+00})";
}
