using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Tensors;

namespace MedClip.Tests.Backends.Cpu;

/// <summary>
/// The float fast paths of the CPU kernels against references: erf GELU (vectorised in float, exact in double), the
/// activation loop's cache-sized pieces against one call over the tensor, softmax on scores large enough to overflow a
/// naive exp, the permute's odometer over several tasks, and the vectorised AdamW update against its scalar formula.
/// </summary>
public class CpuKernelTests
{
    private static readonly CpuBackend Cpu = CpuBackend.Instance;

    // Normal CDF and density by the exact double erf; |x| <= 5 keeps 1 + erf(x/sqrt 2) free of cancellation.
    private static double Cdf(double x) => 0.5 * (1 + Erf.Evaluate(x * Math.Sqrt(0.5)));
    private static double Pdf(double x) => Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI);

    // The float kernel's bound: 5 ulp for every x (about 1e-7 on average); |x| <= 5 keeps the double reference exact.
    private const double GeluMaxError = 6e-7, GeluMeanError = 1.5e-7;

    [Fact]
    public void GeluErf_Float_IsWithin5UlpOfExact()
    {
        float[] xs = Enumerable.Range(0, 100_001).Select(i => (float)(-5 + 10.0 * i / 100_000)).ToArray();
        float[] y = Run(xs, (x, out_) => Cpu.ActivationForward(Activation.GeluErf, x, out_));
        double sum = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            double exact = xs[i] * Cdf(xs[i]);
            if (exact == 0) continue;
            double error = Math.Abs(y[i] - exact) / Math.Abs(exact);
            Assert.True(error <= GeluMaxError, $"gelu({xs[i]}) = {y[i]}, exact {exact}");
            sum += error;
        }
        Assert.True(sum / xs.Length <= GeluMeanError, $"mean relative error {sum / xs.Length}");
    }

    [Fact]
    public void GeluErf_FloatDerivative_IsWithin5UlpOfItsTerms()
    {
        float[] xs = Enumerable.Range(0, 100_001).Select(i => (float)(-5 + 10.0 * i / 100_000)).ToArray();
        var dy = Tensor.FromArray(Cpu, [xs.Length], Enumerable.Repeat(1f, xs.Length).ToArray());
        float[] d = Run(xs, (x, dx) => Cpu.ActivationBackward(Activation.GeluErf, x, dy, dx));
        for (int i = 0; i < xs.Length; i++)
        {
            double x = xs[i], exact = Cdf(x) + x * Pdf(x);
            // The derivative crosses zero near x = -0.75, so the error is measured against the size of its two terms.
            Assert.True(Math.Abs(d[i] - exact) <= GeluMaxError * (Cdf(x) + Math.Abs(x) * Pdf(x)), $"gelu'({x}) = {d[i]}, exact {exact}");
        }
    }

    [Fact]
    public void GeluErf_Float_KeepsRelativeAccuracyInTheNegativeTail()
    {
        // 1 + erf(x/sqrt2) would cancel to nothing here; Phi(-|x|) from erfcx does not.
        float[] xs = [-6f, -9f, -12f];
        float[] y = Run(xs, (x, out_) => Cpu.ActivationForward(Activation.GeluErf, x, out_));
        double[] exact = [-6 * 9.8658765e-10, -9 * 1.1285884e-19, -12 * 1.7764821e-33];
        for (int i = 0; i < xs.Length; i++)
            Assert.True(Math.Abs(y[i] - exact[i]) <= 1e-6 * Math.Abs(exact[i]), $"gelu({xs[i]}) = {y[i]}, exact {exact[i]}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(9)]
    [InlineData(17)]
    public void GeluErf_Float_RaggedLengthsMatchTheFullVectorResult(int length)
    {
        float[] xs = Enumerable.Range(0, 24).Select(i => (float)(0.37 * i - 4)).ToArray();
        float[] full = Run(xs, (x, y) => Cpu.ActivationForward(Activation.GeluErf, x, y));
        float[] part = Run(xs[..length], (x, y) => Cpu.ActivationForward(Activation.GeluErf, x, y));
        Assert.Equal(full[..length], part);
    }

    [Fact]
    public void Tanh_WorkedInPiecesOverTheCores_EqualsOneCallOverTheWholeTensor()
    {
        // The activation loop cuts each task's span into cache-sized pieces; TensorPrimitives rounds like one call over
        // the span as long as no piece is shorter than a vector. 100,003 elements: several tasks, pieces and a ragged end.
        const int n = 100_003;
        var rng = new Random(6);
        float[] Draw() => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        float[] xs = Draw(), dy = Draw(), dx = Draw();
        var expected = new float[n];
        TensorPrimitives.Tanh<float>(xs, expected);
        Assert.Equal(expected, Run(xs, (x, y) => Cpu.ActivationForward(Activation.Tanh, x, y)));

        // dx += dy * (1 - tanh^2 x), in the order the kernel forms it.
        var derivative = new float[n];
        TensorPrimitives.Tanh<float>(xs, derivative);
        TensorPrimitives.Multiply<float>(derivative, derivative, derivative);
        TensorPrimitives.Negate<float>(derivative, derivative);
        TensorPrimitives.Add(derivative, 1f, derivative);
        var expectedDx = (float[])dx.Clone();
        TensorPrimitives.MultiplyAdd<float>(dy, derivative, expectedDx, expectedDx);
        var actualDx = Tensor.FromArray(Cpu, [n], dx);
        Cpu.ActivationBackward(Activation.Tanh, Tensor.FromArray(Cpu, [n], xs), Tensor.FromArray(Cpu, [n], dy), actualDx);
        Assert.Equal(expectedDx, actualDx.ToArray<float>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Softmax_Float_LargeScoresDoNotOverflow(bool masked)
    {
        // exp(1000) overflows float; subtracting the row maximum first gives a uniform row over the kept keys.
        var scores = Tensor.FromArray(Cpu, [1, 1, 2, 4], Enumerable.Repeat(1000f, 8).ToArray());
        var mask = masked ? Tensor.FromArray(Cpu, [1, 4], [1, 1, 0, 1]) : null;
        var y = Tensor.Zeros(Cpu, scores.Shape);
        Cpu.SoftmaxForward(scores, mask, y, 1, 1, 2, 4, 1.0, causal: false);
        float[] expected = masked ? [1 / 3f, 1 / 3f, 0, 1 / 3f] : [0.25f, 0.25f, 0.25f, 0.25f];
        Assert.Equal([.. expected, .. expected], y.ToArray<float>(), (a, b) => Math.Abs(a - b) <= 1e-7f);
    }

    /// <summary>
    /// Padded keys anywhere in a sequence (leading, inside, trailing, every key) get probability 0 exactly in every head
    /// and query of that sequence; the kept keys match a softmax in double.
    /// </summary>
    [Fact]
    public void Softmax_PaddedKeysInRuns_AreZeroAndTheRestMatchesDouble()
    {
        int[][] masks = [[0, 1, 1, 0, 0, 1, 0], [1, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 1, 0, 1]];
        const int batch = 4, heads = 2, queries = 3, keys = 7;
        const double scale = 0.37;
        var rng = new Random(7);
        float[] scores = Enumerable.Range(0, batch * heads * queries * keys).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var y = Tensor.FromArray(Cpu, [batch, heads, queries, keys], Enumerable.Repeat(float.NaN, scores.Length).ToArray());
        Cpu.SoftmaxForward(Tensor.FromArray(Cpu, [batch, heads, queries, keys], scores), Tensor.FromArray(Cpu, [batch, keys], masks.SelectMany(m => m).ToArray()),
            y, batch, heads, queries, keys, scale, causal: false);

        float[] actual = y.ToArray<float>();
        for (int row = 0; row < batch * heads * queries; row++)
        {
            var mask = masks[row / (heads * queries)];
            double[] e = Enumerable.Range(0, keys).Select(k => mask[k] == 0 ? 0 : Math.Exp(scale * scores[row * keys + k])).ToArray();
            double sum = e.Sum();
            for (int k = 0; k < keys; k++)
            {
                float value = actual[row * keys + k];
                if (mask[k] == 0) Assert.Equal(0f, value);
                else Assert.Equal(e[k] / sum, value, 1e-6);
            }
        }
    }

    [Theory]
    [InlineData(new[] { 5, 37, 6, 64 }, new[] { 0, 2, 1, 3 })]
    [InlineData(new[] { 4, 3, 8, 16, 8, 16 }, new[] { 0, 2, 4, 1, 3, 5 })]
    [InlineData(new[] { 40, 30, 70 }, new[] { 2, 0, 1 })]
    public void Permute_SplitOverTasks_MatchesNaiveIndexing(int[] dims, int[] perm)
    {
        var rng = new Random(dims.Sum());
        int n = dims.Aggregate(1, (a, b) => a * b);
        float[] source = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        float[] existing = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var x = Tensor.FromArray(Cpu, dims, source);
        var y = Tensor.FromArray(Cpu, perm.Select(p => dims[p]).ToArray(), (float[])existing.Clone());
        Cpu.Permute(x, y, dims, perm, accumulate: true);

        var outDims = perm.Select(p => dims[p]).ToArray();
        var expected = new float[n];
        var index = new int[dims.Length];
        for (int o = 0; o < n; o++)
        {
            int rem = o;
            for (int a = dims.Length - 1; a >= 0; a--)
            {
                index[a] = rem % outDims[a];
                rem /= outDims[a];
            }
            int src = 0;
            for (int a = 0; a < dims.Length; a++)
            {
                int stride = 1;
                for (int b = perm[a] + 1; b < dims.Length; b++) stride *= dims[b];
                src += index[a] * stride;
            }
            expected[o] = existing[o] + source[src];
        }
        Assert.Equal(expected, y.ToArray<float>());
    }

    [Fact]
    public void AdamW_Float_VectorAndScalarElementsMatchTheFormulaBitForBit()
    {
        const int n = 1003; // vectors plus a ragged scalar remainder
        var rng = new Random(4);
        float[] Draw(double scale) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() - 0.3) * scale)).ToArray();
        float[] p = Draw(1), g = Draw(0.1), m = Draw(0.01), v = Draw(0.001).Select(MathF.Abs).ToArray();
        var step = new AdamWStep(1e-3, 0.9, 0.999, 1e-8, 0.1, 1 - Math.Pow(0.9, 3), 1 - Math.Pow(0.999, 3));
        var (tp, tg, tm, tv) = (Tensor.FromArray(Cpu, [n], p), Tensor.FromArray(Cpu, [n], g), Tensor.FromArray(Cpu, [n], m), Tensor.FromArray(Cpu, [n], v));

        Cpu.AdamW(tp, tg, tm, tv, step);

        float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, decay = 1 - lr * 0.1f;
        float bc1 = (float)step.BiasCorrection1, sqrtBc2 = MathF.Sqrt((float)step.BiasCorrection2);
        for (int i = 0; i < n; i++)
        {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            p[i] = p[i] * decay - lr * (m[i] / bc1) / (MathF.Sqrt(v[i]) / sqrtBc2 + eps);
        }
        Assert.Equal(m, tm.ToArray<float>());
        Assert.Equal(v, tv.ToArray<float>());
        Assert.Equal(p, tp.ToArray<float>());
    }

    private static float[] Run(float[] input, Action<Tensor, Tensor> kernel)
    {
        var x = Tensor.FromArray(Cpu, [input.Length], input);
        var y = Tensor.Zeros(Cpu, [input.Length]);
        kernel(x, y);
        return y.ToArray<float>();
    }
}
