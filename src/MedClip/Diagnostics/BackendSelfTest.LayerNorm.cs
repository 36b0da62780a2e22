using MedClip.Tensors;

namespace MedClip.Diagnostics;

// Layer norm's checks, alone and fused with the residual add: odd widths (scalar kernels), 132 (float4), and 1031 rows
// (the parameter gradients' row slices). Backward checks take mean and rstd from a reference forward. The BF16 output's
// check runs with the other bf16 checks (Bf16Checks).
public sealed partial class BackendSelfTest
{
    private IEnumerable<SelfTestCheck> LayerNormChecks()
    {
        foreach (int cols in new[] { 33, 769, 132 })
        {
            yield return Run($"layernorm forward 7x{cols}", () => Op([R(7 * cols, 2, 0.5), R(cols), R(cols), R(7 * cols), R(7), R(7)], [3, 4, 5],
                (b, t) => b.LayerNormForward(t[0], t[1], t[2], t[3], t[4], t[5], 7, cols, 1e-5)));
            yield return Run($"layernorm backward 7x{cols}", () => LayerNormBackward(7, cols));
        }
        yield return Run("layernorm backward 1031x33 (row slices)", () => LayerNormBackward(1031, 33));
        foreach (int cols in new[] { 33, 132 })
        {
            yield return Run($"add+layernorm forward 7x{cols}, sum kept", () => AddLayerNormForward(7, cols, keepSum: true));
            yield return Run($"add+layernorm forward 7x{cols}, sum not kept", () => AddLayerNormForward(7, cols, keepSum: false));
            yield return Run($"add+layernorm backward 7x{cols}", () => AddLayerNormBackward(7, cols, bothGradients: true));
        }
        yield return Run("add+layernorm backward 7x132, no gradient for b", () => AddLayerNormBackward(7, 132, bothGradients: false));
        yield return Run("add+layernorm backward 1031x33 (row slices)", () => AddLayerNormBackward(1031, 33, bothGradients: true));
    }

    private double LayerNormBackward(int rows, int cols)
    {
        // mean and rstd come from a reference forward so the backward sees consistent statistics.
        var x = R(rows * cols, 2, 0.5);
        var gamma = R(cols);
        var mean = Tensor.Zeros(_reference, [rows], _dtype);
        var rstd = Tensor.Zeros(_reference, [rows], _dtype);
        _reference.LayerNormForward(x.Reference, gamma.Reference, R(cols).Reference, Tensor.Zeros(_reference, [rows * cols], _dtype), mean, rstd, rows, cols, 1e-5);
        var meanPair = Both(Download(mean));
        var rstdPair = Both(Download(rstd));
        return Op([R(rows * cols), x, gamma, meanPair, rstdPair, R(rows * cols), R(cols), R(cols)], [5, 6, 7],
            (b, t) => b.LayerNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], rows, cols));
    }

    private double AddLayerNormForward(int rows, int cols, bool keepSum)
    {
        int n = rows * cols;
        return Op([R(n, 2, 0.5), R(n), R(n), R(cols), R(cols), R(n), R(rows), R(rows)], keepSum ? [2, 5, 6, 7] : [5, 6, 7],
            (b, t) => b.AddLayerNormForward(t[0], t[1], keepSum ? t[2] : null, t[3], t[4], t[5], t[6], t[7], rows, cols, 1e-5));
    }

    private double AddLayerNormBackward(int rows, int cols, bool bothGradients)
    {
        // mean and rstd come from a reference forward so the backward sees consistent statistics.
        int n = rows * cols;
        var a = R(n, 2, 0.5);
        var b = R(n);
        var gamma = R(cols);
        var mean = Tensor.Zeros(_reference, [rows], _dtype);
        var rstd = Tensor.Zeros(_reference, [rows], _dtype);
        _reference.AddLayerNormForward(a.Reference, b.Reference, null, gamma.Reference, R(cols).Reference, Tensor.Zeros(_reference, [n], _dtype), mean,
            rstd, rows, cols, 1e-5);
        return Op([R(n), a, b, gamma, Both(Download(mean)), Both(Download(rstd)), R(n), R(n), R(cols), R(cols)], [6, 7, 8, 9],
            (be, t) => be.AddLayerNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], bothGradients ? t[7] : null, t[8], t[9], rows, cols));
    }

    // bf16 mixed precision's BF16 layer-norm outputs (norms that only feed GEMMs): plain, and fused with the kept sum.
    private double LayerNormBf16Output()
    {
        const int rows = 7, cols = 132, n = rows * cols;
        var (x, b, gamma, beta) = (R(n, 2, 0.5), R(n), R(cols), R(cols));
        double plain = Op([x, gamma, beta, Bf16Zeros(n), R(rows), R(rows)], [3, 4, 5],
            (be, t) => be.LayerNormForward(t[0], t[1], t[2], t[3], t[4], t[5], rows, cols, 1e-5));
        double fused = Op([x, b, R(n), gamma, beta, Bf16Zeros(n), R(rows), R(rows)], [2, 5, 6, 7],
            (be, t) => be.AddLayerNormForward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], rows, cols, 1e-5));
        return Math.Max(plain, fused);
    }
}
