using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Diagnostics;
using MedClip.Tensors;
using static MedClip.Tests.Backends.OpOperands;

namespace MedClip.Tests.Backends.Cpu;

/// <summary>
/// The fused CPU ops against the unfused sequences they replace, in F32 and F64: forward bit for bit (so a CPU training
/// run computes the same activations), backward bit for bit where the arithmetic is the same, and within rounding
/// where only a summation order differs (the bias gradient).
/// </summary>
public class CpuFusedOpTests
{
    private static readonly CpuBackend Cpu = CpuBackend.Instance;

    public static TheoryData<Activation, int, int, DType> BiasActivationCases()
    {
        var cases = new TheoryData<Activation, int, int, DType>();
        foreach (var kind in Enum.GetValues<Activation>())
        {
            foreach (var (rows, cols) in FusedShapes)
            {
                foreach (var dtype in new[] { DType.F32, DType.F64 }) cases.Add(kind, rows, cols, dtype);
            }
        }
        return cases;
    }

    public static TheoryData<int, int, DType> BiasCases()
    {
        var cases = new TheoryData<int, int, DType>();
        foreach (var (rows, cols) in FusedShapes)
        {
            foreach (var dtype in new[] { DType.F32, DType.F64 }) cases.Add(rows, cols, dtype);
        }
        return cases;
    }

    /// <summary>A linear layer's bias and residual in one pass: the sums of AddBias then Axpy, in place or into y.</summary>
    [Theory]
    [MemberData(nameof(BiasCases))]
    public void AddBiasResidual_IsAddBiasThenAxpy(int rows, int cols, DType dtype)
    {
        var rng = new Random(rows * cols);
        int n = rows * cols;
        double[] x = Values(rng, n, 3), bias = Values(rng, cols), residual = Values(rng, n, 5);

        var expected = Make(x, dtype);
        Cpu.AddBias(expected, Make(bias, dtype), rows, cols);
        Cpu.Axpy(1, Make(residual, dtype), expected);
        var inPlace = Make(x, dtype);
        Cpu.AddBiasResidual(inPlace, Make(bias, dtype), Make(residual, dtype), inPlace, rows, cols);
        var source = Make(x, dtype);
        var into = Make(Values(rng, n), dtype); // overwritten (=)
        Cpu.AddBiasResidual(source, Make(bias, dtype), Make(residual, dtype), into, rows, cols);

        Assert.Equal(Get(expected), Get(inPlace));
        Assert.Equal(Get(expected), Get(into));
        Assert.Equal(x.Select(v => dtype == DType.F64 ? v : (float)v), Get(source)); // x is only read
    }

    /// <summary>bf16's q, k, v: the bias and the rounding to BF16 in one pass, the values of AddBias then Cast.</summary>
    [Theory]
    [InlineData(67, 130)]
    [InlineData(197, 300)]
    [InlineData(37, 3)]
    public void AddBias_IntoBf16_IsAddBiasThenCast(int rows, int cols)
    {
        var rng = new Random(rows + 7 * cols);
        int n = rows * cols;
        double[] x = Values(rng, n, 3), bias = Values(rng, cols);

        var biased = Make(x, DType.F32);
        Cpu.AddBias(biased, Make(bias, DType.F32), rows, cols);
        var expected = Tensor.Zeros(Cpu, [n], DType.BF16);
        Cpu.Cast(biased, expected);
        var fused = Tensor.Zeros(Cpu, [n], DType.BF16);
        Cpu.AddBias(Make(x, DType.F32), Make(bias, DType.F32), rows, cols, fused);

        Assert.Equal(expected.ToArray<ushort>(), fused.ToArray<ushort>());
        Assert.Throws<ArgumentException>(() => Cpu.AddBias(Make(x, DType.F32), Make(bias, DType.F32), rows, cols, Make(x, DType.F32)));
    }

    /// <summary>
    /// The fused bias and activation against AddBias, ActivationForward and ActivationBackward: y and the kept f' bit for
    /// bit, and the backward from that f' with the same dx and the same bias gradient within rounding.
    /// </summary>
    [Theory]
    [MemberData(nameof(BiasActivationCases))]
    public void BiasActivation_IsBiasAddThenActivation(Activation kind, int rows, int cols, DType dtype)
    {
        var rng = new Random(rows + cols);
        int n = rows * cols;
        double[] x = Values(rng, n, 4), bias = Values(rng, cols), dy = Values(rng, n), dx = Values(rng, n), dBias = Values(rng, cols);

        var pre = Make(x, dtype);
        var y = Make(new double[n], dtype);
        Cpu.AddBias(pre, Make(bias, dtype), rows, cols);
        Cpu.ActivationForward(kind, pre, y);
        // f'(pre), as 0 + 1 * f'(pre) from the unfused backward.
        var derivative = Make(new double[n], dtype);
        Cpu.ActivationBackward(kind, pre, Make(Enumerable.Repeat(1.0, n).ToArray(), dtype), derivative);
        var kept = Make(x, dtype);
        var fusedY = Make(Values(rng, n), dtype); // overwritten (=)
        Cpu.BiasActivationForward(kind, kept, Make(bias, dtype), fusedY, rows, cols);
        Assert.Equal(Get(y), Get(fusedY));
        Assert.Equal(Get(derivative), Get(kept));

        // Unfused: dPre = dy * f'(pre) into zeros, dx += dPre, dBias += column sums of dPre.
        var dPre = Make(new double[n], dtype);
        Cpu.ActivationBackward(kind, pre, Make(dy, dtype), dPre);
        var expectedDx = Make(dx, dtype);
        Cpu.ActivationBackward(kind, pre, Make(dy, dtype), expectedDx);
        var expectedDBias = Make(dBias, dtype);
        Cpu.BiasBackward(dPre, expectedDBias, rows, cols);
        var fusedDx = Make(dx, dtype);
        var fusedDBias = Make(dBias, dtype);
        Cpu.BiasActivationBackward(kind, kept, Make(dy, dtype), fusedDx, fusedDBias, rows, cols);
        Assert.Equal(Get(expectedDx), Get(fusedDx));
        AssertClose(Get(expectedDBias), Get(fusedDBias), dtype);
    }

    /// <summary>
    /// Fused attention against the unfused ops (permutes, batched GEMMs, masked softmax): outputs and the q, k, v
    /// gradients within rounding (the sums run in another order), with padded keys and a fully padded sequence, whose
    /// output and gradients are zero on both paths.
    /// </summary>
    [Theory]
    [InlineData(3, 7, 2, 8, DType.F64)]
    [InlineData(3, 70, 2, 32, DType.F32)]
    [InlineData(1, 17, 3, 64, DType.F32)]
    public void FusedAttention_IsTheUnfusedAttention(int batch, int tokens, int heads, int dim, DType dtype)
    {
        var rng = new Random(tokens * dim);
        int n = batch * tokens * heads * dim;
        double[] q = Values(rng, n, 2), k = Values(rng, n, 2), v = Values(rng, n), dO = Values(rng, n);
        var mask = new int[batch * tokens];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < tokens; t++) mask[b * tokens + t] = b == 2 ? 0 : b == 1 && t >= tokens / 2 ? 0 : 1;
        }
        var maskTensor = Tensor.FromArray(Cpu, [batch, tokens], mask);
        (double[] O, double[] Dq, double[] Dk, double[] Dv) Run(bool fused)
        {
            Tensor Input(double[] values)
            {
                var t = Make(values, dtype).View([batch, tokens, heads * dim]);
                t.RequiresGrad = true;
                return t;
            }
            var (tq, tk, tv) = (Input(q), Input(k), Input(v));
            var o = fused ? Ops.FusedMultiHeadAttention(tq, tk, tv, maskTensor, heads) : Ops.MultiHeadAttention(tq, tk, tv, maskTensor, heads);
            o.Backward(Make(dO, dtype).View(o.Shape));
            return (Get(o), Get(tq.Grad!), Get(tk.Grad!), Get(tv.Grad!));
        }
        var unfused = Run(fused: false);
        var fusedResult = Run(fused: true);
        AssertClose(unfused.O, fusedResult.O, dtype);
        AssertClose(unfused.Dq, fusedResult.Dq, dtype);
        AssertClose(unfused.Dk, fusedResult.Dk, dtype);
        AssertClose(unfused.Dv, fusedResult.Dv, dtype);
        if (batch < 3) return;
        int sequence = tokens * heads * dim;
        Assert.All(fusedResult.O[(2 * sequence)..], x => Assert.Equal(0, x));
        Assert.All(fusedResult.Dq[(2 * sequence)..], x => Assert.Equal(0, x));
        Assert.All(fusedResult.Dv[(2 * sequence)..], x => Assert.Equal(0, x));
    }

    /// <summary>
    /// bf16's fused attention of BF16 q, k, v against a double-precision reference of its definition: p (relative to the
    /// row's maximum), ds = p (dp - delta) and dO enter their products rounded to BF16; delta = bf16(dO) . o. The same
    /// reference without those roundings is more than 100 times further away, so the test sees them.
    /// </summary>
    [Fact]
    public void FusedAttention_Bf16Inputs_RoundProductOperands()
    {
        const int batch = 2, tokens = 23, heads = 2, dim = 16;
        var rng = new Random(11);
        int n = batch * tokens * heads * dim;
        static double Round(double x) => BFloat16.Round((float)x);
        double[] q = Array.ConvertAll(Values(rng, n, 2), Round), k = Array.ConvertAll(Values(rng, n, 2), Round), v = Array.ConvertAll(Values(rng, n), Round);
        double[] dO = Values(rng, n);
        int[] mask = Enumerable.Range(0, batch * tokens).Select(i => i >= tokens + 15 ? 0 : 1).ToArray();
        var shape = new AttentionShape(batch, tokens, heads, dim, 1 / Math.Sqrt(dim));
        Tensor Bf16(double[] values)
        {
            var t = Tensor.Zeros(Cpu, [values.Length], DType.BF16);
            Cpu.Cast(Make(values, DType.F32), t);
            return t;
        }
        var (tq, tk, tv, o, lse) = (Bf16(q), Bf16(k), Bf16(v), Tensor.Zeros(Cpu, [n], DType.BF16), Tensor.Zeros(Cpu, [batch * heads * tokens]));
        var maskTensor = Tensor.FromArray(Cpu, [batch, tokens], mask);
        Cpu.AttentionForward(tq, tk, tv, maskTensor, o, lse, shape);
        var (dq, dk, dv) = (Tensor.Zeros(Cpu, [n]), Tensor.Zeros(Cpu, [n]), Tensor.Zeros(Cpu, [n]));
        Cpu.AttentionBackward(tq, tk, tv, maskTensor, o, lse, Make(dO, DType.F32), dq, dk, dv, shape);
        double[] oValues = Array.ConvertAll(o.ToArray<ushort>(), x => (double)BFloat16.ToSingle(x));

        (double[] O, double[] Dq, double[] Dk, double[] Dv) Reference(Func<double, double> operand)
        {
            var (ro, rdq, rdk, rdv) = (new double[n], new double[n], new double[n], new double[n]);
            int Row(int b, int t, int h) => ((b * tokens + t) * heads + h) * dim;
            double Dot(double[] x, int i, double[] y, int j) => Enumerable.Range(0, dim).Sum(c => x[i + c] * y[j + c]);
            for (int b = 0; b < batch; b++)
            {
                for (int h = 0; h < heads; h++)
                {
                    for (int i = 0; i < tokens; i++)
                    {
                        int ri = Row(b, i, h);
                        var kept = Enumerable.Range(0, tokens).Where(j => mask[b * tokens + j] != 0).ToArray();
                        var s = kept.Select(j => shape.Scale * Dot(q, ri, k, Row(b, j, h))).ToArray();
                        double max = s.Max();
                        var p = s.Select(x => Math.Exp(x - max)).ToArray();
                        double sum = p.Sum();
                        double[] dORow = Enumerable.Range(0, dim).Select(c => operand(dO[ri + c])).ToArray();
                        // The backward reads the forward's BF16 output, as the kernels do.
                        double delta = Enumerable.Range(0, dim).Sum(c => dORow[c] * oValues[ri + c]);
                        for (int e = 0; e < kept.Length; e++)
                        {
                            int rj = Row(b, kept[e], h);
                            double pe = p[e] / sum, dp = Enumerable.Range(0, dim).Sum(c => dORow[c] * v[rj + c]);
                            double ds = operand(pe * (dp - delta)) * shape.Scale, pr = operand(pe);
                            for (int c = 0; c < dim; c++)
                            {
                                ro[ri + c] += operand(p[e]) * v[rj + c] / sum;
                                rdq[ri + c] += ds * k[rj + c];
                                rdk[rj + c] += ds * q[ri + c];
                                rdv[rj + c] += pr * dORow[c];
                            }
                        }
                    }
                }
            }
            return (Array.ConvertAll(ro, Round), rdq, rdk, rdv);
        }
        var rounded = Reference(Round);
        var exact = Reference(x => x);
        foreach (var (name, actual, expected, unrounded) in new[]
        {
            ("o", oValues, rounded.O, exact.O), ("dq", Get(dq), rounded.Dq, exact.Dq), ("dk", Get(dk), rounded.Dk, exact.Dk), ("dv", Get(dv), rounded.Dv, exact.Dv),
        })
        {
            double error = BackendSelfTest.RelativeError(actual, expected), without = BackendSelfTest.RelativeError(actual, unrounded);
            // Measured: 0 to 1.0e-7 against the rounded reference, 2.3e-3 to 5.1e-3 against the exact one.
            Assert.True(error <= 1e-5 && without >= 1e-3, $"{name}: relative error {error:E2} against the rounded reference, {without:E2} against the exact one");
        }
    }
}
