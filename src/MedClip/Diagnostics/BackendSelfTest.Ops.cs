using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Diagnostics;

/// <summary>The op checks: every op of <see cref="IBackend"/> in F32 or F64, forward and backward.</summary>
public sealed partial class BackendSelfTest
{
    /// <summary>Every op of <see cref="IBackend"/>, forward and backward.</summary>
    public IEnumerable<SelfTestCheck> OpChecks()
    {
        yield return Run("fill", Fill);
        yield return Run("cast F32/F64/BF16 round trips", Casts);
        yield return Run("copy_blocks (=, strided)", () => CopyBlocks(false));
        yield return Run("copy_blocks (+=, broadcast source)", () => CopyBlocks(true));
        foreach (int n in new[] { 769, 1028 })
        {
            yield return Run($"add_scaled n={n}", () => Op([R(n), R(n), R(n)], [2], (b, t) => b.AddScaled(t[0], 0.7, t[1], -1.3, t[2])));
            yield return Run($"axpy n={n}", () => Op([R(n), R(n)], [1], (b, t) => b.Axpy(-0.45, t[0], t[1])));
        }
        yield return Run("scale", () => Op([R(769)], [0], (b, t) => b.Scale(t[0], 1.7)));
        yield return Run("scale_by_tensor", () => Op([R(769), R(1)], [0], (b, t) => b.ScaleByTensor(t[0], t[1])));

        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            var s = new GemmShape(ta, tb, M: 7, N: 33, K: 130, Alpha: 0.7, Beta: 0.3);
            yield return Run($"gemm {(ta ? "T" : "N")}{(tb ? "T" : "N")} 7x33x130 beta=0.3", () => Gemm(s, nanInC: false));
        }
        yield return Run("gemm batched 3 x 13x7x33, B shared (stride 0), beta=0 over NaN",
            () => Gemm(new GemmShape(false, true, 13, 7, 33, Batch: 3, StrideA: 13 * 33, StrideB: 0, StrideC: 13 * 7), nanInC: true));

        yield return Run("add_bias 91x130", () => Op([R(91 * 130), R(130)], [0], (b, t) => b.AddBias(t[0], t[1], 91, 130)));
        yield return Run("add_bias_residual 91x130 in place", () => Op([R(91 * 130), R(130), R(91 * 130)], [0],
            (b, t) => b.AddBiasResidual(t[0], t[1], t[2], t[0], 91, 130)));
        yield return Run("add_bias_residual 64x132 (float4) into another tensor", () => Op([R(64 * 132), R(132), R(64 * 132), R(64 * 132)], [3],
            (b, t) => b.AddBiasResidual(t[0], t[1], t[2], t[3], 64, 132)));
        yield return Run("bias_backward 91x130", () => Op([R(91 * 130), R(130)], [1], (b, t) => b.BiasBackward(t[0], t[1], 91, 130)));
        yield return Run("bias_backward 1031x33 (row slices)", () => Op([R(1031 * 33), R(33)], [1], (b, t) => b.BiasBackward(t[0], t[1], 1031, 33)));
        yield return Run("bias_backward with the residual's gradient 1031x33", () => Op([R(1031 * 33), R(33), R(1031 * 33)], [1, 2],
            (b, t) => b.BiasBackwardEpilogue(t[0], t[1], t[2], null, 1031, 33)));

        foreach (var check in LayerNormChecks()) yield return check;

        foreach (var kind in Enum.GetValues<Activation>())
        {
            foreach (int n in new[] { 769, 1028 })
            {
                yield return Run($"activation {kind} forward n={n}", () => Op([R(n, 4), R(n)], [1], (b, t) => b.ActivationForward(kind, t[0], t[1])));
                yield return Run($"activation {kind} backward n={n}", () => Op([R(n, 4), R(n), R(n)], [2], (b, t) => b.ActivationBackward(kind, t[0], t[1], t[2])));
            }
            foreach (int cols in new[] { 130, 132 })
            {
                yield return Run($"bias+activation {kind} forward 91x{cols}", () => Op([R(91 * cols, 4), R(cols), R(91 * cols)], [0, 2],
                    (b, t) => b.BiasActivationForward(kind, t[0], t[1], t[2], 91, cols)));
            }
            foreach (var (rows, cols) in new[] { (91, 130), (1031, 33) })
            {
                string slices = rows > 256 ? " (row slices)" : "";
                yield return Run($"bias+activation {kind} backward {rows}x{cols}{slices}", () => Op([R(rows * cols, 4), R(rows * cols), R(rows * cols), R(cols)],
                    [2, 3], (b, t) => b.BiasActivationBackward(kind, t[0], t[1], t[2], t[3], rows, cols)));
            }
        }

        yield return Run("softmax forward 3x5x7x13, no mask", () => Softmax(masked: false));
        yield return Run("softmax forward 3x5x7x13, padded keys and a fully padded sequence", () => Softmax(masked: true));
        yield return Run("softmax forward 3x5x13x13, causal with padded keys", () => Softmax(masked: true, causal: true));
        yield return Run("softmax backward 105x13", () => Op([Probabilities(105, 13), R(105 * 13), R(105 * 13)], [2],
            (b, t) => b.SoftmaxBackward(t[0], t[1], t[2], 105, 13, 0.37)));

        foreach (var (batch, tokens, heads, dim) in new[] { (3, 13, 2, 8), (3, 70, 1, 64), (2, 37, 2, 32), (1, 20, 3, 16) })
        {
            var shape = new AttentionShape(batch, tokens, heads, dim, 1 / Math.Sqrt(dim));
            string name = $"fused attention {batch}x{tokens}x{heads}x{dim}";
            string padding = batch >= 3 ? ", padded keys and a fully padded sequence" : ", padded keys";
            if (dim == 8) yield return Run($"{name} forward, no mask", () => Attention(shape, masked: false, backward: false));
            yield return Run($"{name} forward{padding}", () => Attention(shape, masked: true, backward: false));
            yield return Run($"{name} backward{padding}", () => Attention(shape, masked: true, backward: true));
        }

        yield return Run("embedding forward 21 ids, 37x33 table", () => Op([R(37 * 33), Ints(21, 37), R(21 * 33)], [2],
            (b, t) => b.EmbeddingForward(t[0], t[1], t[2], 21, 37, 33)));
        yield return Run("embedding backward, repeated ids", () => Op([R(21 * 33), Ints(21, 5), R(37 * 33)], [2],
            (b, t) => b.EmbeddingBackward(t[0], t[1], t[2], 21, 37, 33)));

        yield return Run("permute head split [3,7,5,6] (0,2,1,3)", () => Op([R(3 * 7 * 5 * 6), R(3 * 7 * 5 * 6)], [1],
            (b, t) => b.Permute(t[0], t[1], [3, 7, 5, 6], [0, 2, 1, 3], accumulate: false)));
        yield return Run("permute patchify rank 6 (0,2,4,1,3,5) +=", () => Op([R(2 * 3 * 2 * 4 * 3 * 4), R(2 * 3 * 2 * 4 * 3 * 4)], [1],
            (b, t) => b.Permute(t[0], t[1], [2, 3, 2, 4, 3, 4], [0, 2, 4, 1, 3, 5], accumulate: true)));
        yield return Run("permute I32 [5,3,7] (2,0,1)", () => Op([Ints(105, 1000), Ints(105, 1)], [1],
            (b, t) => b.Permute(t[0], t[1], [5, 3, 7], [2, 0, 1], accumulate: false)));

        yield return Run("l2norm forward 7x130", () => Op([R(7 * 130), R(7 * 130), R(7)], [1, 2], (b, t) => b.L2NormalizeForward(t[0], t[1], t[2], 7, 130)));
        yield return Run("l2norm backward 7x130", L2NormalizeBackward);

        foreach (var (rows, cols) in new[] { (7, 7), (7, 13) })
        {
            foreach (bool alongColumns in new[] { false, true })
            {
                string axis = alongColumns ? "columns" : "rows";
                int count = alongColumns ? cols : rows, length = alongColumns ? rows : cols;
                yield return Run($"cross-entropy forward {rows}x{cols} along {axis}", () => Op([R(rows * cols, 5), Ints(count, length), R(1)], [2],
                    (b, t) => b.CrossEntropyForward(t[0], t[1], t[2], rows, cols, alongColumns, 1.0 / count)));
                yield return Run($"cross-entropy backward {rows}x{cols} along {axis}", () => Op([R(rows * cols, 5), Ints(count, length), R(1), R(rows * cols)], [3],
                    (b, t) => b.CrossEntropyBackward(t[0], t[1], t[2], t[3], rows, cols, alongColumns, 1.0 / count)));
            }
        }
        foreach (double logScale in new[] { 2.6592, 5.0 })
        {
            string clamp = logScale > Math.Log(100) ? "clamped" : "unclamped";
            yield return Run($"exp_scale forward, {clamp}", () => Op([R(91), Constant(logScale), R(91)], [2], (b, t) => b.ExpScaleForward(t[0], t[1], t[2], Math.Log(100))));
            yield return Run($"exp_scale backward, {clamp}", () => Op([R(91), Constant(logScale), R(91), R(91), R(1)], [3, 4],
                (b, t) => b.ExpScaleBackward(t[0], t[1], t[2], t[3], t[4], Math.Log(100))));
        }

        foreach (int n in new[] { 7, 37 })
            yield return Run($"infonce fused forward+backward {n}x{n}", () => Op([R(n * n, 8), R(1), R(n * n)], [1, 2], (b, t) => b.InfoNceForwardBackward(t[0], t[1], t[2], n)));
        yield return Run("sum_of_squares n=2307", () => Op([R(2307), R(1)], [1], (b, t) => b.SumOfSquares(t[0], t[1])));
        foreach (double sumSquares in new[] { 9.0, 0.25 })
        {
            string clipped = sumSquares > 1 ? "clipped" : "under the limit";
            yield return Run($"clip_by_norm n=2307, {clipped}", () => Op([R(2307), Constant(sumSquares)], [0], (b, t) => b.ClipByNorm(t[0], t[1], 1.0)));
        }
        yield return Run("adamw two steps n=769", AdamW);
        yield return Run("adamw multi-tensor, 5 tensors with own lr and decay, against the reference", () => AdamWMultiTensor(againstReference: true));
        yield return Run("adamw multi-tensor equals per-tensor adamw on the device, bit for bit", () => AdamWMultiTensor(againstReference: false), tolerance: 0);
    }

    private double Fill()
    {
        double worst = 0;
        foreach (var dtype in new[] { DType.F32, DType.F64, DType.BF16, DType.I32 })
        {
            var a = Tensor.Zeros(_reference, [37], dtype);
            var b = Tensor.Zeros(_device, [37], dtype);
            _reference.Fill(a, -3.25);
            _device.Fill(b, -3.25);
            worst = Math.Max(worst, RelativeError(Download(b), Download(a)));
        }
        return worst;
    }

    private double Casts()
    {
        double worst = 0;
        DType[] types = [DType.F32, DType.F64, DType.BF16];
        var values = Enumerable.Range(0, 130).Select(_ => (_random.NextDouble() * 2 - 1) * 1e3).Append(double.NaN).ToArray();
        foreach (var from in types)
        {
            foreach (var to in types)
            {
                var source = (Reference: Tensor.Zeros(_reference, [values.Length], DType.F64), Device: Tensor.Zeros(_device, [values.Length], DType.F64));
                _reference.CopyFromHost<double>(values, source.Reference.Storage);
                _device.CopyFromHost<double>(values, source.Device.Storage);
                var middle = (Reference: Tensor.Zeros(_reference, [values.Length], from), Device: Tensor.Zeros(_device, [values.Length], from));
                _reference.Cast(source.Reference, middle.Reference);
                _device.Cast(source.Device, middle.Device);
                var result = (Reference: Tensor.Zeros(_reference, [values.Length], to), Device: Tensor.Zeros(_device, [values.Length], to));
                _reference.Cast(middle.Reference, result.Reference);
                _device.Cast(middle.Device, result.Device);
                worst = Math.Max(worst, RelativeError(Download(result.Device), Download(result.Reference)));
            }
        }
        return worst;
    }

    private double CopyBlocks(bool accumulate)
    {
        // 5 runs of 33 from a [5, 41] source at offset 3 into a [6, 40] destination at offset 7; += with a broadcast source.
        var source = R(5 * 41);
        var destination = R(6 * 40);
        return Op([source, destination], [1], (b, t) => b.CopyBlocks(t[0], 3, accumulate ? 0 : 41, t[1], 7, 40, 33, 5, accumulate));
    }

    private double Gemm(GemmShape s, bool nanInC)
    {
        int aLength = s.M * s.K + (s.Batch - 1) * (int)s.StrideA, bLength = s.K * s.N + (s.Batch - 1) * (int)s.StrideB;
        int cLength = s.M * s.N + (s.Batch - 1) * (int)s.StrideC;
        var c = nanInC ? Both(Enumerable.Repeat(double.NaN, cLength).ToArray()) : R(cLength);
        return Op([R(aLength), R(bLength), c], [2], (b, t) => b.Gemm(t[0], t[1], t[2], s));
    }
    // Two multi-tensor steps over tensors of 769, 33, 1, 0 and 9000 elements (the last spans three of the CUDA kernel's
    // 4096-value chunks; the first and last have BF16 copies in F32),
    // each with its own learning rate and decay; compared with the same tensors updated one by one, either on the
    // reference or (bit for bit) on the device itself. Returns the worst error over p, m, v and the copies.
    private double AdamWMultiTensor(bool againstReference)
    {
        int[] lengths = [769, 33, 1, 0, 9000];
        var other = againstReference ? _reference : _device;
        var state = lengths.Select(n => (P: R(n), M: R(n, 0.1), V: R(n, 0.01, 0.01))).ToArray();
        // The one-by-one side gets its own copies of the device's starting values when it runs on the device too.
        Tensor Start(Tensor deviceTensor) => Upload(other, [(int)deviceTensor.Length], Download(deviceTensor));
        var single = state.Select(s => (P: againstReference ? s.P.Reference : Start(s.P.Device), M: againstReference ? s.M.Reference : Start(s.M.Device),
            V: againstReference ? s.V.Reference : Start(s.V.Device))).ToArray();
        Tensor? Copy(IBackend backend, int i) => _dtype == DType.F32 && (i == 0 || i == 4) ? Tensor.Zeros(backend, [lengths[i]], DType.BF16) : null;
        var fusedCopies = lengths.Select((_, i) => Copy(_device, i)).ToArray();
        var singleCopies = lengths.Select((_, i) => Copy(other, i)).ToArray();
        double worst = 0;
        for (int step = 1; step <= 2; step++)
        {
            var fused = new AdamWTensor[lengths.Length];
            for (int i = 0; i < lengths.Length; i++)
            {
                var g = R(lengths[i]);
                var hyper = new AdamWStep(1e-3 * (i + 1), 0.9, 0.999, 1e-8, i % 2 == 0 ? 0.1 : 0, 1 - Math.Pow(0.9, step), 1 - Math.Pow(0.999, step));
                fused[i] = new AdamWTensor(state[i].P.Device, g.Device, state[i].M.Device, state[i].V.Device, fusedCopies[i], hyper);
                var gOther = againstReference ? g.Reference : Start(g.Device);
                other.AdamW(single[i].P, gOther, single[i].M, single[i].V, hyper, singleCopies[i]);
            }
            _device.AdamWMultiTensor(fused);
        }
        for (int i = 0; i < lengths.Length; i++)
        {
            worst = Math.Max(worst, RelativeError(Download(state[i].P.Device), Download(single[i].P)));
            worst = Math.Max(worst, RelativeError(Download(state[i].M.Device), Download(single[i].M)));
            worst = Math.Max(worst, RelativeError(Download(state[i].V.Device), Download(single[i].V)));
            if (fusedCopies[i] is { } copy)
            {
                // Against the reference a one-ulp difference in p may round to a neighbouring bf16; check the copy
                // against the device's own p instead, and against the one-by-one copy when both ran on the device.
                var rounded = Array.ConvertAll(Download(state[i].P.Device), x => (double)BFloat16.Round((float)x));
                worst = Math.Max(worst, RelativeError(Download(copy), againstReference ? rounded : Download(singleCopies[i]!)));
            }
        }
        return worst;
    }

    private double Softmax(bool masked, bool causal = false)
    {
        const int batch = 3, heads = 5, keys = 13;
        int queries = causal ? keys : 7;
        int n = batch * heads * queries * keys;
        return Op([R(n, 3), R(n), KeyMask(batch, keys)], [1],
            (b, t) => b.SoftmaxForward(t[0], masked ? t[2] : null, t[1], batch, heads, queries, keys, 0.41, causal));
    }

    /// <summary>
    /// An I32 key mask [batch, keys]: sequence 0 unpadded, sequence 1 with its last third padded, and (from batch 3 on)
    /// sequence 2 with every key padded, whose rows must come out as zeros; later sequences unpadded.
    /// </summary>
    private Pair KeyMask(int batch, int keys)
    {
        int[] mask = new int[batch * keys];
        for (int b = 0; b < batch; b++)
        {
            for (int k = 0; k < keys; k++) mask[b * keys + k] = b == 1 ? (k < keys - keys / 3 ? 1 : 0) : b == 2 ? 0 : 1;
        }
        return new Pair(Tensor.FromArray(_reference, [batch, keys], mask), Tensor.FromArray(_device, [batch, keys], mask));
    }

    /// <summary>
    /// Fused attention forward (o and lse from noise-filled outputs) or backward (from the reference forward's o and lse,
    /// into random gradients: +=), with or without the padding of <see cref="KeyMask"/>.
    /// </summary>
    private double Attention(AttentionShape s, bool masked, bool backward)
    {
        int n = (int)s.Elements, rows = (int)s.Rows;
        var (q, k, v, mask) = (R(n, 2), R(n, 2), R(n), KeyMask(s.Batch, s.Tokens));
        if (!backward)
            return Op([q, k, v, mask, R(n), R(rows)], [4, 5], (b, t) => b.AttentionForward(t[0], t[1], t[2], masked ? t[3] : null, t[4], t[5], s));
        var o = Tensor.Zeros(_reference, [n], _dtype);
        var lse = Tensor.Zeros(_reference, [rows], _dtype);
        _reference.AttentionForward(q.Reference, k.Reference, v.Reference, masked ? mask.Reference : null, o, lse, s);
        return Op([q, k, v, mask, Both(Download(o)), Both(Download(lse)), R(n), R(n), R(n), R(n)], [7, 8, 9],
            (b, t) => b.AttentionBackward(t[0], t[1], t[2], masked ? t[3] : null, t[4], t[5], t[6], t[7], t[8], t[9], s));
    }

    private double L2NormalizeBackward()
    {
        var x = R(7 * 130);
        var y = Tensor.Zeros(_reference, [7 * 130], _dtype);
        var norms = Tensor.Zeros(_reference, [7], _dtype);
        _reference.L2NormalizeForward(x.Reference, y, norms, 7, 130);
        return Op([Both(Download(y)), R(7 * 130), Both(Download(norms)), R(7 * 130)], [3],
            (b, t) => b.L2NormalizeBackward(t[0], t[1], t[2], t[3], 7, 130));
    }

    private double AdamW()
    {
        var p = R(769);
        var m = R(769, 0.1);
        var v = R(769, 0.01, 0.01);
        double worst = 0;
        for (int step = 1; step <= 2; step++)
        {
            var g = R(769);
            var hyper = new AdamWStep(1e-3, 0.9, 0.999, 1e-8, 0.1, 1 - Math.Pow(0.9, step), 1 - Math.Pow(0.999, step));
            worst = Math.Max(worst, Op([p, g, m, v], [0, 2, 3], (b, t) => b.AdamW(t[0], t[1], t[2], t[3], hyper)));
        }
        return worst;
    }
}
