using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Losses;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Tests.Autograd;

/// <summary>bf16 mixed precision on the CPU backend, which emulates it: rounded operands, FP32 sums.</summary>
public class AutocastTests
{
    private static readonly IBackend Cpu = CpuBackend.Instance;

    private static float[] Random(int n, int seed, double scale = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    private static double[] Rounded(float[] x) => Array.ConvertAll(x, v => (double)BFloat16.Round(v));

    // C[i, j] = sum_p A[i, p] * B[j, p] in double (A [m, k], B [n, k]).
    private static double[] TimesTransposed(double[] a, double[] b, int m, int n, int k)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++) sum += a[i * k + p] * b[j * k + p];
                c[i * n + j] = sum;
            }
        return c;
    }

    private static double[] Transpose(double[] x, int rows, int cols)
    {
        var t = new double[x.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[c * rows + r] = x[r * cols + c];
        return t;
    }

    private static void AssertClose(double[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= tolerance * scale, $"worst difference {worst:e3} against a scale of {scale:e3}");
    }

    [Fact]
    public void LinearUnderAutocast_IsTheFp32ProductOfBf16RoundedOperands_ForwardAndBackward()
    {
        const int rows = 9, inFeatures = 70, outFeatures = 11;
        float[] xs = Random(rows * inFeatures, 1), ws = Random(outFeatures * inFeatures, 2), dys = Random(rows * outFeatures, 3);
        var x = Tensor.FromArray(Cpu, [rows, inFeatures], xs);
        var w = Tensor.FromArray(Cpu, [outFeatures, inFeatures], ws);
        x.RequiresGrad = w.RequiresGrad = true;
        Tensor y;
        using (Autocast.Bf16()) y = Ops.Linear(x, w);
        Assert.Equal(DType.F32, y.DType);
        y.Backward(Tensor.FromArray(Cpu, [rows, outFeatures], dys));

        // Products of bf16 values are exact in float, so only the FP32 summation differs from the double reference.
        double[] rx = Rounded(xs), rw = Rounded(ws), rdy = Rounded(dys);
        AssertClose(TimesTransposed(rx, rw, rows, outFeatures, inFeatures), y.ToArray<float>(), 1e-6);
        AssertClose(TimesTransposed(rdy, Transpose(rw, outFeatures, inFeatures), rows, inFeatures, outFeatures), x.Grad!.ToArray<float>(), 1e-6);
        AssertClose(TimesTransposed(Transpose(rdy, rows, outFeatures), Transpose(rx, rows, inFeatures), outFeatures, inFeatures, rows),
            w.Grad!.ToArray<float>(), 1e-6);
        Assert.Equal(DType.F32, w.Grad!.DType);

        // And visibly not the unrounded product: bf16 keeps 8 significant bits.
        var exact = TimesTransposed(Array.ConvertAll(xs, v => (double)v), Array.ConvertAll(ws, v => (double)v), rows, outFeatures, inFeatures);
        Assert.True(exact.Zip(y.ToArray<float>(), (e, a) => Math.Abs(e - a)).Max() > 1e-4 * exact.Max(Math.Abs));
    }

    [Fact]
    public void OutsideTheScope_AndForTheContrastiveLogits_GemmsStayFp32()
    {
        float[] img = Random(4 * 8, 4), txt = Random(4 * 8, 5);
        Tensor Logits()
        {
            var a = Tensor.FromArray(Cpu, [4, 8], img);
            var b = Tensor.FromArray(Cpu, [4, 8], txt);
            return InfoNceLoss.Logits(a, b, Tensor.Scalar(Cpu, 2.0));
        }
        var fp32 = Logits().ToArray<float>();
        float[] inside;
        using (Autocast.Bf16()) inside = Logits().ToArray<float>();
        Assert.Equal(fp32, inside);
        Assert.False(Autocast.IsBf16);

        using (Autocast.Bf16())
        {
            Assert.True(Autocast.IsBf16);
            using (Autocast.Fp32()) Assert.False(Autocast.IsBf16);
            Assert.True(Autocast.IsBf16);
        }
    }

    [Fact]
    public void AdamW_RewritesTheBf16CopyOfEveryLinearWeight()
    {
        var (config, _) = BackendSelfTest.MicroModel();
        var model = new DualEncoder(new Init(Cpu, DType.F32, 3), config);
        int copies = Bf16Weights.Attach(model);
        Assert.Equal(model.Modules().OfType<Linear>().Count(), copies);
        var optimizer = new AdamW(WeightDecayPolicy.Groups(model));
        foreach (var p in model.Parameters())
        {
            p.Grad = Tensor.FromArray(Cpu, p.Shape, Random((int)p.Length, (int)p.Length));
        }
        optimizer.Update(1e-2);
        foreach (var linear in model.Modules().OfType<Linear>())
        {
            var master = linear.Weight.ToArray<float>();
            var copy = linear.Weight.Bf16Copy!.ToArray<ushort>();
            Assert.Equal(master.Select(BFloat16.FromSingle), copy);
        }
        Assert.Null(model.LogitScale.Bf16Copy);
    }
}
