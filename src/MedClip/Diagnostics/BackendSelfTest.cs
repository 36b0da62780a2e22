using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Diagnostics;

/// <summary>
/// Runs every op of a backend forward and backward against the CPU reference on random inputs of awkward sizes, then
/// trains a small dual encoder on both for a few steps and compares losses, every gradient and parameter checksums. The
/// error of a tensor is max |device - reference| / max |reference|. Forward outputs start filled with noise (so "="
/// is checked) and gradient outputs with random values (so "+=" is checked). Shared by `medclip-train selftest` and the
/// tests.
/// </summary>
public sealed partial class BackendSelfTest
{
    private readonly IBackend _device;
    private readonly IBackend _reference;
    private readonly DType _dtype;
    private readonly Random _random;

    public BackendSelfTest(IBackend device, IBackend reference, DType dtype = DType.F32, int seed = 1)
    {
        if (dtype is not (DType.F32 or DType.F64)) throw new ArgumentException($"The self-test computes in F32 or F64, not {dtype}.");
        _device = device;
        _reference = reference;
        _dtype = dtype;
        _random = new Random(seed);
        Tolerance = dtype == DType.F64 ? 1e-10 : 1e-5;
    }

    /// <summary>Allowed relative error of one op (1e-5 in F32, 1e-10 in F64).</summary>
    public double Tolerance { get; }

    /// <summary>An operand on both backends with the same values.</summary>
    private readonly record struct Pair(Tensor Reference, Tensor Device);

    private SelfTestCheck Run(string name, Func<double> check, double? tolerance = null)
    {
        double limit = tolerance ?? Tolerance;
        try
        {
            return new SelfTestCheck(name, check(), limit);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestCheck(name, double.NaN, limit, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Runs <paramref name="op"/> on both backends and returns the worst error over the outputs.</summary>
    private static double Op(Pair[] operands, int[] outputs, Action<IBackend, Tensor[]> op)
    {
        op(operands[0].Reference.Backend, operands.Select(p => p.Reference).ToArray());
        op(operands[0].Device.Backend, operands.Select(p => p.Device).ToArray());
        return outputs.Max(i => operands[i].Device.DType == DType.BF16
            ? Bf16RelativeError(Download(operands[i].Device), Download(operands[i].Reference))
            : RelativeError(Download(operands[i].Device), Download(operands[i].Reference)));
    }

    /// <summary>
    /// <see cref="RelativeError"/> for a BF16 output. Where the two backends' F32 values behind an element lie within
    /// their summation noise of a rounding boundary, the two roundings differ by one unit (up to 2^-7 of the value), so
    /// up to one element in a hundred may differ by exactly one unit and count as equal; more of them (a wrong rounding
    /// mode, say) or larger differences count in full.

    private Pair R(int n, double scale = 1, double offset = 0)
    {
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = offset + scale * (_random.NextDouble() * 2 - 1);
        return Both(values);
    }

    private Pair Constant(double value) => Both([value]);

    private Pair Both(double[] values) => new(Upload(_reference, [values.Length], values), Upload(_device, [values.Length], values));

    private Pair Ints(int n, int below)
    {
        var values = Enumerable.Range(0, n).Select(_ => _random.Next(below)).ToArray();
        return new(Tensor.FromArray(_reference, [n], values), Tensor.FromArray(_device, [n], values));
    }

    // Rows of non-negative values summing to 1 (softmax outputs).
    private Pair Probabilities(int rows, int cols)
    {
        var values = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += values[r * cols + c] = _random.NextDouble();
            for (int c = 0; c < cols; c++) values[r * cols + c] /= sum;
        }
        return Both(values);
    }

    private Tensor Upload(IBackend backend, Shape shape, double[] values) => _dtype == DType.F64
        ? Tensor.FromArray(backend, shape, values)
        : Tensor.FromArray(backend, shape, Array.ConvertAll(values, v => (float)v));

    private static double[] Download(Tensor t) => t.DType switch
    {
        DType.F32 => Array.ConvertAll(t.ToArray<float>(), v => (double)v),
        DType.F64 => t.ToArray<double>(),
        DType.BF16 => Array.ConvertAll(t.ToArray<ushort>(), v => (double)BFloat16.ToSingle(v)),
        _ => Array.ConvertAll(t.ToArray<int>(), v => (double)v),
    };
}
