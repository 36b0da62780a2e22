using MedClip.Backends;
using MedClip.Diagnostics;
using MedClip.Tensors;

namespace MedClip.Tests.Diagnostics;

/// <summary>How the selftest compares a BF16 output: rare one-unit rounding flips forgiven, a wrong rounding mode not.</summary>
public class SelfTestComparisonTests
{
    // 200 BF16 values of either sign and a range of magnitudes.
    private static double[] Values() =>
        [.. Enumerable.Range(0, 200).Select(i => (double)BFloat16.ToSingle(BFloat16.FromSingle((float)((i % 2 == 0 ? 1 : -1) * (0.01 + i * 0.37)))))];

    private static double NextUp(double value) =>
        BFloat16.ToSingle((ushort)(BFloat16.FromSingle((float)value) + 1)); // one unit away from zero

    [Fact]
    public void AFewOneUnitFlips_AreForgiven()
    {
        var expected = Values();
        var actual = (double[])expected.Clone();
        actual[150] = NextUp(expected[150]); // the largest values: one unit is about 2^-8 of the largest
        actual[199] = NextUp(expected[199]);

        Assert.True(BackendSelfTest.RelativeError(actual, expected) > 1e-3);
        Assert.Equal(0, BackendSelfTest.Bf16RelativeError(actual, expected));
    }

    [Fact]
    public void OneUnitEverywhere_OrALargerDifference_CountsInFull()
    {
        var expected = Values();
        var shifted = expected.Select(NextUp).ToArray();
        Assert.Equal(BackendSelfTest.RelativeError(shifted, expected), BackendSelfTest.Bf16RelativeError(shifted, expected));
        Assert.True(BackendSelfTest.Bf16RelativeError(shifted, expected) > 1e-3);

        var twoUnits = (double[])expected.Clone();
        twoUnits[199] = NextUp(NextUp(expected[199]));
        Assert.True(BackendSelfTest.Bf16RelativeError(twoUnits, expected) > 1e-3);
    }
}
