using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Diagnostics;
using MedClip.Losses;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Tests.Autograd;

/// <summary>bf16 mixed precision on the CPU backend, which emulates it: rounded operands, FP32 sums.</summary>
public class Bf16PrecisionTests
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
    public void LinearInBf16_IsTheFp32ProductOfBf16RoundedOperands_ForwardAndBackward()
    {
        const int rows = 9, inFeatures = 70, outFeatures = 11;
        float[] xs = Random(rows * inFeatures, 1), ws = Random(outFeatures * inFeatures, 2), dys = Random(rows * outFeatures, 3);
        var x = Tensor.FromArray(Cpu, [rows, inFeatures], xs);
        var w = Tensor.FromArray(Cpu, [outFeatures, inFeatures], ws);
        x.RequiresGrad = w.RequiresGrad = true;
        var y = Ops.Linear(x, w, precision: Precision.Bf16);
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

    /// <summary>
    /// Ops.Mlp in bf16 against a double reference that rounds where the contract says: operands of both GEMMs,
    /// pre = bf16(x W1^T + b1), h = bf16(gelu(pre)), and backward dpre = bf16(dh gelu'(pre)) with dh = bf16(dy) W2 and
    /// b1's gradient the column sums of the unrounded dh gelu'(pre). Tanh GELU, so that double has the same function.
    /// </summary>
    [Fact]
    public void MlpInBf16_KeepsTheHiddenLayerInBf16_ForwardAndBackward()
    {
        const int rows = 6, width = 24, hidden = 40;
        float[] xs = Random(rows * width, 11), w1s = Random(hidden * width, 12, 0.3), b1s = Random(hidden, 13), w2s = Random(width * hidden, 14, 0.3),
            b2s = Random(width, 15), dys = Random(rows * width, 16);
        var t = new[] { xs, w1s, b1s, w2s, b2s }.Select((values, i) => Tensor.FromArray(Cpu, i switch
        {
            0 => [rows, width], 1 => [hidden, width], 2 => [hidden], 3 => [width, hidden], _ => [width],
        }, values)).ToArray();
        foreach (var leaf in t) leaf.RequiresGrad = true;
        var y = Ops.Mlp(t[0], t[1], t[2], t[3], t[4], Activation.GeluTanh, precision: Precision.Bf16);
        y.Backward(Tensor.FromArray(Cpu, [rows, width], dys));

        static double Gelu(double v) => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
        static double GeluDerivative(double v)
        {
            double k = Math.Sqrt(2 / Math.PI), th = Math.Tanh(k * (v + 0.044715 * v * v * v));
            return 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * k * (1 + 3 * 0.044715 * v * v);
        }
        static double Round(double v) => BFloat16.Round((float)v);
        double[] rx = Rounded(xs), rw1 = Rounded(w1s), rw2 = Rounded(w2s), rdy = Rounded(dys);
        var pre = TimesTransposed(rx, rw1, rows, hidden, width).Select((v, i) => Round(v + b1s[i % hidden])).ToArray();
        var h = pre.Select(v => Round(Gelu(v))).ToArray();
        var expectedY = TimesTransposed(h, rw2, rows, width, hidden).Select((v, i) => v + b2s[i % width]).ToArray();
        var dh = TimesTransposed(rdy, Transpose(rw2, width, hidden), rows, hidden, width);
        var g = dh.Select((v, i) => v * GeluDerivative(pre[i])).ToArray();
        var dPre = g.Select(Round).ToArray();
        var expectedDb1 = Enumerable.Range(0, hidden).Select(j => Enumerable.Range(0, rows).Sum(r => g[r * hidden + j])).ToArray();
        var expectedDw2 = TimesTransposed(Transpose(rdy, rows, width), Transpose(h, rows, hidden), width, hidden, rows);
        var expectedDw1 = TimesTransposed(Transpose(dPre, rows, hidden), Transpose(rx, rows, width), hidden, width, rows);
        var expectedDx = TimesTransposed(dPre, Transpose(rw1, hidden, width), rows, width, hidden);
        var expectedDb2 = Enumerable.Range(0, width).Select(j => Enumerable.Range(0, rows).Sum(r => (double)dys[r * width + j])).ToArray();

        // FP32 sums against double, and the odd value that rounds to the neighbouring BF16 number (2^-8): 1e-3 of the scale.
        AssertClose(expectedY, y.ToArray<float>(), 1e-3);
        AssertClose(expectedDx, t[0].Grad!.ToArray<float>(), 1e-3);
        AssertClose(expectedDw1, t[1].Grad!.ToArray<float>(), 1e-3);
        AssertClose(expectedDb1, t[2].Grad!.ToArray<float>(), 1e-3);
        AssertClose(expectedDw2, t[3].Grad!.ToArray<float>(), 1e-3);
        AssertClose(expectedDb2, t[4].Grad!.ToArray<float>(), 1e-6);

        // In fp32 it is the fp32 layer pair, bit for bit, and visibly not the bf16 result.
        var fp32 = Ops.Mlp(t[0], t[1], t[2], t[3], t[4], Activation.GeluTanh).ToArray<float>();
        Assert.Equal(Ops.Linear(Ops.LinearActivation(t[0], t[1], t[2], Activation.GeluTanh), t[3], t[4]).ToArray<float>(), fp32);
        Assert.True(expectedY.Zip(fp32, (e, a) => Math.Abs(e - a)).Max() > 3e-3 * expectedY.Max(Math.Abs));
    }

    /// <summary>
    /// Fused attention in bf16 reads BF16 q, k, v and writes its output in BF16, which the output projection takes as
    /// its operand as it is; the gradients stay F32 and near the fp32 op's.
    /// </summary>
    [Fact]
    public void FusedAttentionInBf16_WritesABf16Output_ThatALinearLayerReadsDirectly()
    {
        const int batch = 2, tokens = 5, heads = 2, dim = 8, width = heads * dim;
        float[] qs = Random(batch * tokens * width, 31), ks = Random(batch * tokens * width, 32), vs = Random(batch * tokens * width, 33),
            ws = Random(width * width, 34), dys = Random(batch * tokens * width, 35);
        (Tensor Output, float[] Dq, float[] Dv, float[] Dw) Run(bool bf16)
        {
            Tensor Leaf(float[] values, Shape shape)
            {
                var t = Tensor.FromArray(Cpu, shape, values);
                t.RequiresGrad = true;
                return t;
            }
            var (q, k, v, w) = (Leaf(qs, [batch, tokens, width]), Leaf(ks, [batch, tokens, width]), Leaf(vs, [batch, tokens, width]), Leaf(ws, [width, width]));
            var precision = bf16 ? Precision.Bf16 : Precision.Fp32;
            var o = Ops.FusedMultiHeadAttention(q, k, v, null, heads, precision);
            var y = Ops.Linear(o, w, precision: precision);
            y.Backward(Tensor.FromArray(Cpu, [batch, tokens, width], dys));
            return (o, q.Grad!.ToArray<float>(), v.Grad!.ToArray<float>(), w.Grad!.ToArray<float>());
        }
        var fp32 = Run(bf16: false);
        var bf16 = Run(bf16: true);
        Assert.Equal(DType.BF16, bf16.Output.DType);
        Assert.Equal(DType.F32, fp32.Output.DType);
        // Rounded q, k, v, probabilities and output (see Bf16ProjectionsFeedTheFusedAttention_AsTheirRoundedValues).
        double outputError = BackendSelfTest.RelativeError(Array.ConvertAll(bf16.Output.ToArray<ushort>(), v => (double)BFloat16.ToSingle(v)),
            Array.ConvertAll(fp32.Output.ToArray<float>(), v => (double)v));
        Assert.True(outputError > 0 && outputError <= 1e-2, $"relative error {outputError:E2}");
        // dv = p^T dO does not read o; dO = dy W reads the BF16 weight, so it is the bf16 value throughout.
        AssertClose(Array.ConvertAll(fp32.Dv, x => (double)x), bf16.Dv, 1e-2);
        AssertClose(Array.ConvertAll(fp32.Dq, x => (double)x), bf16.Dq, 2e-2);
        AssertClose(Array.ConvertAll(fp32.Dw, x => (double)x), bf16.Dw, 2e-2);
    }

    /// <summary>
    /// A layer norm whose output feeds GEMMs in bf16 (a pre-LN layer's norms): the GEMMs read its BF16 operand, the F32
    /// output rounded, and the layer norm's gradients are the fp32 ones to the bit.
    /// </summary>
    [Fact]
    public void ALayerNormThatFeedsGemms_LendsItsRoundedOutputInBf16_WithTheSameGradients()
    {
        const int rows = 5, cols = 12, outFeatures = 7;
        float[] xs = Random(rows * cols, 51, 2), gs = Random(cols, 52), bs = Random(cols, 53), ws = Random(outFeatures * cols, 54);
        (Tensor Y, float[] Dx, float[] Dgamma) Run(Precision precision)
        {
            var x = Tensor.FromArray(Cpu, [rows, cols], xs);
            var gamma = Tensor.FromArray(Cpu, [cols], gs);
            var beta = Tensor.FromArray(Cpu, [cols], bs);
            x.RequiresGrad = gamma.RequiresGrad = true;
            var y = Ops.LayerNorm(x, gamma, beta, 1e-5);
            var dy = Tensor.FromArray(Cpu, [rows, cols], Random(rows * cols, 55));
            y.Backward(dy);
            return (y, x.Grad!.ToArray<float>(), gamma.Grad!.ToArray<float>());
        }
        var fp32 = Run(Precision.Fp32);
        var bf16 = Run(Precision.Bf16);
        Assert.Equal(DType.F32, fp32.Y.DType);
        Assert.Equal(DType.F32, bf16.Y.DType);
        Assert.Equal(Array.ConvertAll(fp32.Y.ToArray<float>(), BFloat16.FromSingle), bf16.Y.Bf16Operand().ToArray<ushort>());
        // The backward reads x and the statistics, not y: the gradients are the fp32 ones to the bit.
        Assert.Equal(fp32.Dx, bf16.Dx);
        Assert.Equal(fp32.Dgamma, bf16.Dgamma);

        // A linear layer in bf16 reads that operand: its output is the GEMM of the rounded values.
        var w = Tensor.FromArray(Cpu, [outFeatures, cols], ws);
        var fromNorm = Ops.Linear(bf16.Y, w, precision: Precision.Bf16).ToArray<float>();
        var widened = Tensor.FromArray(Cpu, [rows, cols], Array.ConvertAll(bf16.Y.Bf16Operand().ToArray<ushort>(), BFloat16.ToSingle));
        Assert.Equal(Ops.Linear(widened, w, precision: Precision.Bf16).ToArray<float>(), fromNorm);
    }

    /// <summary>
    /// With the fused attention under bf16, q, k and v are the projections' BF16 operands (the F32 result rounded, cast
    /// once and kept) and the attention reads them widened: the F32 op on the rounded values, its output rounded, but
    /// for the BF16 rounding of the probabilities before p v (whose definition CpuFusedOpTests checks).
    /// </summary>
    [Fact]
    public void Bf16ProjectionsFeedTheFusedAttention_AsTheirRoundedValues()
    {
        const int batch = 2, tokens = 6, heads = 2, width = 16;
        float[] xs = Random(batch * tokens * width, 61), ws = Random(width * width, 62, 0.3), bs = Random(width, 63);
        var x = Tensor.FromArray(Cpu, [batch, tokens, width], xs);
        var w = Tensor.FromArray(Cpu, [width, width], ws);
        var b = Tensor.FromArray(Cpu, [width], bs);
        var plain = Ops.Linear(x, w, b, precision: Precision.Bf16);
        var stored = plain.Bf16Operand();
        Assert.Equal(DType.BF16, stored.DType);
        Assert.Equal(DType.F32, plain.DType);
        Assert.Same(stored, plain.Bf16Operand());
        Assert.Equal(Array.ConvertAll(plain.ToArray<float>(), BFloat16.FromSingle), stored.ToArray<ushort>());

        // The attention of BF16 q, k, v against the F32 op on their widened values.
        var widened = Tensor.FromArray(Cpu, stored.Shape, Array.ConvertAll(stored.ToArray<ushort>(), BFloat16.ToSingle));
        var fromBf16 = Ops.FusedMultiHeadAttention(plain, plain, plain, null, heads, Precision.Bf16);
        var fromWidened = Ops.FusedMultiHeadAttention(widened, widened, widened, null, heads);
        Assert.Equal(DType.BF16, fromBf16.DType);
        double[] expected = Array.ConvertAll(fromWidened.ToArray<float>(), v => (double)v);
        double[] actual = Array.ConvertAll(fromBf16.ToArray<ushort>(), v => (double)BFloat16.ToSingle(v));
        double error = BackendSelfTest.RelativeError(actual, expected);
        // The output's own rounding (up to 2^-9 of a value) and p's (about as much again): measured 2.4e-3.
        Assert.True(error > 0 && error <= 8e-3, $"relative error {error:E2}");
    }

    [Fact]
    public void ABf16Activation_HasAnF32Gradient_AndNeedsBf16PrecisionToEnterALinearLayer()
    {
        var x = Tensor.Zeros(Cpu, [3, 4], DType.BF16);
        Assert.Equal(DType.F32, x.GradOrZeros().DType);
        var w = Tensor.FromArray(Cpu, [2, 4], Random(8, 41));
        var e = Assert.Throws<ArgumentException>(() => Ops.Linear(x, w));
        Assert.Equal("Linear: input BF16[3, 4] and weight F32[2, 4] differ in dtype; a BF16 input needs bf16 precision.", e.Message);
        Assert.Equal(DType.F32, Ops.Linear(x, w, precision: Precision.Bf16).DType);
    }

    [Fact]
    public void AnOpOutputIsCastOnce_ALeafOnEveryCall()
    {
        var x = Tensor.FromArray(Cpu, [2, 3], Random(6, 21));
        var activation = Ops.Add(x, x, 1, 0);
        var first = activation.Bf16Operand();
        Assert.Same(first, activation.Bf16Operand());
        Assert.NotSame(x.Bf16Operand(), x.Bf16Operand()); // a leaf may be written between two reads: a fresh cast each time
        Assert.Equal(Array.ConvertAll(Random(6, 21), BFloat16.FromSingle), first.ToArray<ushort>());
        Assert.Equal(first.ToArray<ushort>(), x.Bf16Operand().ToArray<ushort>());
        Assert.Same(first, first.Bf16Operand());
    }

    [Fact]
    public void TheContrastiveLogits_StayFp32_InABf16Model()
    {
        float[] img = Random(4 * 8, 4), txt = Random(4 * 8, 5);
        var a = Tensor.FromArray(Cpu, [4, 8], img);
        var b = Tensor.FromArray(Cpu, [4, 8], txt);
        var logits = InfoNceLoss.Logits(a, b, Tensor.Scalar(Cpu, 2.0)).ToArray<float>();
        var exact = TimesTransposed(Array.ConvertAll(img, v => (double)v), Array.ConvertAll(txt, v => (double)v), 4, 4, 8).Select(v => Math.Exp(2) * v).ToArray();
        AssertClose(exact, logits, 1e-6);
        var rounded = Ops.MatMul(a, b, transB: true, precision: Precision.Bf16).ToArray<float>();
        Assert.True(exact.Zip(rounded, (e, r) => Math.Abs(e / Math.Exp(2) - r)).Max() > 1e-4);

        // A model built for bf16 computes its loss from F32 logits, with the fused InfoNCE op.
        Assert.True(new ComputePolicy(Precision.Bf16).FusedInfoNce);
        Assert.False(ComputePolicy.Default.FusedInfoNce);
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
