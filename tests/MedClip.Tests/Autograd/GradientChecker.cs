using MedClip.Autograd;
using MedClip.Backends.Cpu;
using MedClip.Tensors;

namespace MedClip.Tests.Autograd;

/// <summary>
/// Compares the tape's gradients with central finite differences in double precision. A non-scalar output is reduced
/// to the scalar sum(y * w) with fixed random weights w, so every output element's gradient path is exercised.
/// </summary>
internal static class GradientChecker
{
    public const double Step = 1e-6;
    public const double Tolerance = 1e-6;

    public static Tensor Random(Random rng, Shape shape, double scale = 1.0, bool requiresGrad = true)
    {
        var data = new double[shape.Elements];
        for (int i = 0; i < data.Length; i++) data[i] = scale * (2 * rng.NextDouble() - 1);
        var t = Tensor.FromArray(CpuBackend.Instance, shape, data);
        t.RequiresGrad = requiresGrad;
        return t;
    }

    public static Tensor Ints(Shape shape, params int[] values) => Tensor.FromArray(CpuBackend.Instance, shape, values);

    /// <summary>
    /// Asserts that d f / d input matches finite differences for every input, probing at most
    /// <paramref name="maxProbesPerInput"/> elements per input (chosen at random).
    /// </summary>
    public static void Check(Func<Tensor> f, Tensor[] inputs, int seed = 1, int maxProbesPerInput = 40, double tolerance = Tolerance,
        bool requireNonZero = true)
    {
        var rng = new Random(seed);
        Tensor? weights = null;
        double Objective(bool backward)
        {
            var y = f();
            Assert.Equal(DType.F64, y.DType);
            weights ??= Random(new Random(seed + 1000), y.Shape, requiresGrad: false);
            var scalar = y.Length == 1 && y.Rank == 0
                ? y
                : Ops.Reshape(Ops.MatMul(Ops.Reshape(y, [1, (int)y.Length]), Ops.Reshape(weights, [(int)y.Length, 1])), new Shape());
            if (backward) scalar.Backward();
            return scalar.Item();
        }

        foreach (var input in inputs) input.Grad = null;
        Objective(backward: true);
        var analytic = inputs.Select(t => t.Grad?.ToArray<double>() ?? new double[t.Length]).ToArray();

        using var noGrad = GradMode.Disable();
        for (int i = 0; i < inputs.Length; i++)
        {
            var data = ((CpuStorage<double>)inputs[i].Storage).Data;
            var probes = Enumerable.Range(0, data.Length).OrderBy(_ => rng.Next()).Take(maxProbesPerInput).ToArray();
            double maxError = 0, maxMagnitude = 0;
            var worst = "";
            foreach (int j in probes)
            {
                double saved = data[j];
                data[j] = saved + Step;
                double plus = Objective(false);
                data[j] = saved - Step;
                double minus = Objective(false);
                data[j] = saved;
                double numeric = (plus - minus) / (2 * Step);
                double error = Math.Abs(numeric - analytic[i][j]);
                maxMagnitude = Math.Max(maxMagnitude, Math.Max(Math.Abs(numeric), Math.Abs(analytic[i][j])));
                if (error > maxError)
                {
                    maxError = error;
                    worst = $"element {j}: analytic {analytic[i][j]:R}, numeric {numeric:R}";
                }
            }
            double relative = maxError / Math.Max(maxMagnitude, 1e-8);
            Assert.True(relative < tolerance,
                $"Gradient of input {i} {inputs[i].Describe()}: relative error {relative:E2} (worst {worst}).");
            Assert.True(maxMagnitude > 0 || !requireNonZero,
                $"Gradient of input {i} {inputs[i].Describe()} is identically zero at every probe; the check would prove nothing.");
        }
    }
}
