using System.Runtime.Intrinsics;

namespace MedClip.Backends.Cpu;

/// <summary>
/// The error function in double precision (.NET has none). For |x| below 3 it sums
/// erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)), whose terms are all positive (no
/// cancellation); beyond that the continued fraction of erfc is used. Both reach full double precision.
/// <see cref="ScaledComplement"/> is the fast float approximation that the float kernels use.
/// </summary>
internal static class Erf
{
    /// <summary>
    /// The scaled complement erfcx(z) = exp(z^2) erfc(z) for z >= 0, eight floats at a time: t * S(t) with
    /// t = 1/(1 + z/2) and S a degree-10 polynomial fitted by tools/reference/fit_erfcx.py (relative error 1.1e-8 in
    /// exact arithmetic, 1.5e-7 in float). erfcx is bounded and smooth, so unlike erfc it needs no exp and loses no
    /// relative accuracy in the tail; callers multiply by exp(-z^2) themselves.
    /// </summary>
    public static Vector256<float> ScaledComplement(Vector256<float> z)
    {
        var t = Vector256<float>.One / Vector256.FusedMultiplyAdd(z, Vector256.Create(0.5f), Vector256<float>.One);
        var s = Vector256.Create(0.0423529821f);
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(-0.230859395f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(0.486182159f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(-0.446980865f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(0.127091579f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(-0.0572332789f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(0.0930007652f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(0.175376808f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(0.246880588f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(0.282093853f));
        s = Vector256.FusedMultiplyAdd(s, t, Vector256.Create(0.282094795f));
        return t * s;
    }

    public static double Evaluate(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Math.Abs(x);
        double result = a < 3 ? Series(a) : 1 - ComplementContinuedFraction(a);
        return x < 0 ? -result : result;
    }

    private static double Series(double x)
    {
        double x2 = x * x, term = x, sum = x;
        for (int n = 1; n < 200; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (term < sum * 1e-17) break;
        }
        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
    }

    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated by Lentz's method.
    private static double ComplementContinuedFraction(double x)
    {
        if (x > 27) return 0;
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int n = 1; n < 500; n++)
        {
            double an = n * 0.5;
            d = x + an * d;
            d = Math.Abs(d) < tiny ? 1 / tiny : 1 / d;
            c = x + an / c;
            if (Math.Abs(c) < tiny) c = tiny;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }
}
