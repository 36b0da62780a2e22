namespace MedClip.Diagnostics;

/// <summary>How far a device's result lies from the reference's.</summary>
public sealed partial class BackendSelfTest
{
    /// <summary>
    /// <see cref="RelativeError"/> for a BF16 output. Where the two backends' F32 values behind an element lie within
    /// their summation noise of a rounding boundary, the two roundings differ by one unit (up to 2^-7 of the value), so
    /// up to one element in a hundred may differ by exactly one unit and count as equal; more of them (a wrong rounding
    /// mode, say) or larger differences count in full.
    /// </summary>
    public static double Bf16RelativeError(double[] actual, double[] expected)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        var forgiven = (double[])actual.Clone();
        int flips = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (actual[i] == expected[i] || !double.IsFinite(expected[i]) || expected[i] == 0) continue;
            double unit = Math.ScaleB(1.0, Math.ILogB(expected[i]) - 7);
            if (Math.Abs(actual[i] - expected[i]) <= unit)
            {
                flips++;
                forgiven[i] = expected[i];
            }
        }
        return RelativeError(flips <= Math.Max(1, actual.Length / 100) ? forgiven : actual, expected);
    }

    public static double RelativeError(double[] actual, double[] expected, double? scale = null)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        double worst = 0, largest = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            // Equal values (equal infinities too, such as the log-sum-exp of a fully padded row) are no error; an
            // infinity does not set the scale.
            if (double.IsFinite(expected[i])) largest = Math.Max(largest, Math.Abs(expected[i]));
            if (actual[i] == expected[i]) continue;
            double d = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(d)) d = double.IsNaN(actual[i]) && double.IsNaN(expected[i]) ? 0 : double.PositiveInfinity;
            worst = Math.Max(worst, d);
        }
        double denominator = scale ?? largest;
        return worst == 0 ? 0 : denominator == 0 ? double.PositiveInfinity : worst / denominator;
    }
}
