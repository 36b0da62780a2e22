using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cuda;
using MedClip.Tensors;

namespace MedClip.Diagnostics;

/// <summary>The TF32 and bf16 mixed-precision checks.</summary>
public sealed partial class BackendSelfTest
{
    /// <summary>F32 GEMM on TF32 tensor cores against the FP32 reference (CUDA only), at a TF32-sized tolerance.</summary>
    public IEnumerable<SelfTestCheck> Tf32Checks()
    {
        if (_device is not CudaBackend cuda || _dtype != DType.F32) yield break;
        bool previous = cuda.AllowTf32;
        cuda.AllowTf32 = true;
        try
        {
            yield return Run("gemm TF32 NT 7x33x130", () => Gemm(new GemmShape(false, true, 7, 33, 130), nanInC: false), tolerance: 1e-2);
        }
        finally
        {
            cuda.AllowTf32 = previous;
        }
    }

    /// <summary>
    /// bf16 mixed precision: GEMMs with BF16 inputs accumulated in FP32 (against the CPU on the same rounded inputs), a
    /// linear layer, an attention-style batched matmul and the MLP with its BF16 hidden layer at <see cref="Precision.Bf16"/>
    /// forward and backward (the CPU emulates the same rounding), the fused attention's and the layer norms' BF16 outputs,
    /// and AdamW writing the BF16 weight copy.
    /// </summary>
    public IEnumerable<SelfTestCheck> Bf16Checks()
    {
        if (_dtype != DType.F32) yield break;
        if (_device is CudaBackend)
        {
            yield return Run("gemm BF16 inputs -> F32, NT 7x33x130", () => Bf16Gemm(DType.F32, 7, 33, 130), tolerance: 1e-5);
            // The K of an MLP's output projection (4 x width), past one 256-deep block of the CPU GEMM.
            yield return Run("gemm BF16 inputs -> F32, NT 64x128x512", () => Bf16Gemm(DType.F32, 64, 128, 512), tolerance: 1e-5);
            yield return Run("gemm BF16 inputs -> BF16, NN 7x33x130", () => Bf16Gemm(DType.BF16, 7, 33, 130), tolerance: 1e-2);
        }
        yield return Run("linear 13x130 -> 33 under bf16 autocast, forward and backward", () => Bf16Linear(13, 130, 33, null));
        yield return Run("linear + erf GELU 13x130 -> 36 under bf16 autocast, forward and backward", () => Bf16Linear(13, 130, 36, Activation.GeluErf));
        yield return Run("batched matmul 3 x 7x33 @ (9x33)^T under bf16 autocast, forward and backward", Bf16MatMul);
        // BF16 hidden values: an activation that lands within a last-bit difference of a BF16 rounding boundary rounds
        // one unit (2^-8) apart on the two backends, hence the looser tolerance.
        yield return Run("mlp 13x40 -> 36 -> 40, tanh GELU, BF16 hidden layer under bf16 autocast, forward and backward",
            () => Bf16Mlp(13, 40, 36, Activation.GeluTanh), tolerance: Bf16TrainingTolerance);
        yield return Run("fused attention 3x37x2x32 with a BF16 output, of F32 and of BF16 inputs, padded keys, forward and backward",
            () => AttentionBf16Output(new AttentionShape(3, 37, 2, 32, 1 / Math.Sqrt(32)), [false, true]), tolerance: Bf16TrainingTolerance);
        // Three key tiles, whose running maximum p is rounded against (the CPU follows the kernels' tiles).
        yield return Run("fused attention 2x150x1x64 of BF16 inputs (3 key tiles), padded keys, forward and backward",
            () => AttentionBf16Output(new AttentionShape(2, 150, 1, 64, 0.125), [true]), tolerance: Bf16TrainingTolerance);
        yield return Run("bias_backward with the residual's gradient and the BF16 copy 91x130",
            () => Op([R(91 * 130), R(130), R(91 * 130), Bf16Zeros(91 * 130)], [1, 2, 3], (b, t) => b.BiasBackwardEpilogue(t[0], t[1], t[2], t[3], 91, 130)));
        // The same F32 sums rounded to nearest even on both sides: equal.
        foreach (int cols in new[] { 130, 132 })
        {
            yield return Run($"add_bias_to_bf16 13x{cols}{(cols % 4 == 0 ? " (float4)" : "")}",
                () => Op([R(13 * cols), R(cols), Bf16Zeros(13 * cols)], [2], (b, t) => b.AddBias(t[0], t[1], 13, cols, t[2])));
        }
        yield return Run("layernorm and add+layernorm (sum kept) 7x132 with a BF16 output", LayerNormBf16Output, tolerance: Bf16TrainingTolerance);
        yield return Run("adamw two steps n=769 writing the BF16 copy", AdamWBf16Copy);
    }

    private double Bf16Gemm(DType output, int m, int n, int k)
    {
        var s = output == DType.F32 ? new GemmShape(false, true, m, n, k) : new GemmShape(false, false, m, n, k);
        var a = R(m * k);
        var b = R(k * n);
        Tensor ToBf16(Tensor x)
        {
            var y = Tensor.Zeros(_device, x.Shape, DType.BF16);
            _device.Cast(x, y);
            return y;
        }
        Tensor Rounded(Tensor x)
        {
            var y = Tensor.Zeros(_reference, x.Shape, DType.F32);
            _reference.Cast(x, y);
            var bits = Tensor.Zeros(_reference, x.Shape, DType.BF16);
            _reference.Cast(y, bits);
            _reference.Cast(bits, y);
            return y;
        }
        var expected = Tensor.Zeros(_reference, [m * n], DType.F32);
        _reference.Gemm(Rounded(a.Reference), Rounded(b.Reference), expected, s);
        var actual = Tensor.Zeros(_device, [m * n], output);
        _device.Gemm(ToBf16(a.Device), ToBf16(b.Device), actual, s);
        return RelativeError(Download(actual), Download(expected));
    }

    // Ops.Linear (or Ops.LinearActivation) on both backends at bf16 precision: y, and dx, dW, db from a random dy (each
    // gradient starts random: +=).
    private double Bf16Linear(int rows, int inFeatures, int outFeatures, Activation? activation)
    {
        var x = R(rows * inFeatures);
        var w = R(outFeatures * inFeatures);
        var bias = R(outFeatures);
        var dy = R(rows * outFeatures);
        var grads = new[] { R(rows * inFeatures), R(outFeatures * inFeatures), R(outFeatures) };
        Tensor[] Side(Func<Pair, Tensor> pick)
        {
            Tensor Leaf(Pair p, Shape shape, Pair grad)
            {
                var t = pick(p).View(shape);
                t.RequiresGrad = true;
                t.Grad = pick(grad).View(shape);
                return t;
            }
            var tx = Leaf(x, [rows, inFeatures], grads[0]);
            var tw = Leaf(w, [outFeatures, inFeatures], grads[1]);
            var tb = Leaf(bias, [outFeatures], grads[2]);
            var y = activation is { } kind ? Ops.LinearActivation(tx, tw, tb, kind, Precision.Bf16) : Ops.Linear(tx, tw, tb, precision: Precision.Bf16);
            y.Backward(pick(dy).View([rows, outFeatures]));
            return [y, tx.Grad!, tw.Grad!, tb.Grad!];
        }
        var expected = Side(p => p.Reference);
        var actual = Side(p => p.Device);
        return Enumerable.Range(0, 4).Max(i => RelativeError(Download(actual[i]), Download(expected[i])));
    }

    // Ops.Mlp on both backends at bf16 precision: y, and the gradients of x and both layers' weights and biases from a random
    // dy (each gradient starts random: +=).
    private double Bf16Mlp(int rows, int width, int hidden, Activation kind)
    {
        var inputs = new[] { R(rows * width), R(hidden * width), R(hidden), R(width * hidden), R(width) };
        Shape[] shapes = [[rows, width], [hidden, width], [hidden], [width, hidden], [width]];
        var grads = shapes.Select(s => R((int)s.Elements)).ToArray();
        var dy = R(rows * width);
        Tensor[] Side(Func<Pair, Tensor> pick)
        {
            var leaves = inputs.Select((p, i) =>
            {
                var t = pick(p).View(shapes[i]);
                t.RequiresGrad = true;
                t.Grad = pick(grads[i]).View(shapes[i]);
                return t;
            }).ToArray();
            var y = Ops.Mlp(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], kind, precision: Precision.Bf16);
            y.Backward(pick(dy).View([rows, width]));
            return [y, .. leaves.Select(t => t.Grad!)];
        }
        var expected = Side(p => p.Reference);
        var actual = Side(p => p.Device);
        return Enumerable.Range(0, expected.Length).Max(i => RelativeError(Download(actual[i]), Download(expected[i])));
    }

    // Ops.MatMul (scores = q k^T per batch) on both backends at bf16 precision, forward and both input gradients.
    private double Bf16MatMul()
    {
        const int batch = 3, queries = 7, keys = 9, dim = 33;
        var q = R(batch * queries * dim);
        var k = R(batch * keys * dim);
        var dy = R(batch * queries * keys);
        Tensor[] Side(Func<Pair, Tensor> pick)
        {
            var tq = pick(q).View([batch, queries, dim]);
            var tk = pick(k).View([batch, keys, dim]);
            tq.RequiresGrad = tk.RequiresGrad = true;
            var y = Ops.MatMul(tq, tk, transB: true, precision: Precision.Bf16);
            y.Backward(pick(dy).View([batch, queries, keys]));
            return [y, tq.Grad!, tk.Grad!];
        }
        var expected = Side(p => p.Reference);
        var actual = Side(p => p.Device);
        return Enumerable.Range(0, 3).Max(i => RelativeError(Download(actual[i]), Download(expected[i])));
    }
    // AdamW with the BF16 copy: p, m, v against the reference, and the device's copy equal to its own p rounded.
    private double AdamWBf16Copy()
    {
        var p = R(769);
        var m = R(769, 0.1);
        var v = R(769, 0.01, 0.01);
        var copy = (Reference: Tensor.Zeros(_reference, [769], DType.BF16), Device: Tensor.Zeros(_device, [769], DType.BF16));
        double worst = 0;
        for (int step = 1; step <= 2; step++)
        {
            var g = R(769);
            var hyper = new AdamWStep(1e-3, 0.9, 0.999, 1e-8, 0.1, 1 - Math.Pow(0.9, step), 1 - Math.Pow(0.999, step));
            // The copy goes with the side by tensor, not by backend (the two may be one backend).
            worst = Math.Max(worst, Op([p, g, m, v], [0, 2, 3], (b, t) => b.AdamW(t[0], t[1], t[2], t[3], hyper,
                ReferenceEquals(t[0], p.Reference) ? copy.Reference : copy.Device)));
            var rounded = Array.ConvertAll(Download(p.Device), x => (double)BFloat16.Round((float)x));
            worst = Math.Max(worst, RelativeError(Download(copy.Device), rounded));
        }
        return worst;
    }
    // A BF16 operand of n zeros on both backends (an output to be written).
    private Pair Bf16Zeros(int n) => new(Tensor.Zeros(_reference, [n], DType.BF16), Tensor.Zeros(_device, [n], DType.BF16));

    /// <summary>
    /// Fused attention with bf16 mixed precision's BF16 output: the forward's o and lse, then the backward (which reads o
    /// back) from each side's own forward.
    /// </summary>
    private double AttentionBf16Output(AttentionShape s, bool[] inputKinds)
    {
        int n = (int)s.Elements;
        Pair Rounded(Pair p)
        {
            var r = Bf16Zeros(n);
            _reference.Cast(p.Reference, r.Reference);
            _device.Cast(p.Device, r.Device);
            return r;
        }
        double worst = 0;
        foreach (bool bf16Inputs in inputKinds)
        {
            var (q, k, v, mask, lse, o) = (R(n, 2), R(n, 2), R(n), KeyMask(s.Batch, s.Tokens), R((int)s.Rows), Bf16Zeros(n));
            if (bf16Inputs) (q, k, v) = (Rounded(q), Rounded(k), Rounded(v));
            worst = Math.Max(worst, Op([q, k, v, mask, o, lse], [4, 5], (b, t) => b.AttentionForward(t[0], t[1], t[2], t[3], t[4], t[5], s)));
            worst = Math.Max(worst, Op([q, k, v, mask, o, lse, R(n), R(n), R(n), R(n)], [7, 8, 9],
                (b, t) => b.AttentionBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], s)));
        }
        return worst;
    }
}
