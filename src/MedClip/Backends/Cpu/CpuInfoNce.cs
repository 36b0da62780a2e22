using System.Numerics;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's fused InfoNCE.
public sealed partial class CpuBackend
{
    public void InfoNceForwardBackward(Tensor logits, Tensor loss, Tensor dLogits, int n) => Dispatch(logits, new InfoNceOp(logits, loss, dLogits, n));

    private readonly struct InfoNceOp(Tensor logits, Tensor loss, Tensor dLogits, int n) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuInfoNce<T>.ForwardBackward(of[logits], of[loss], of[dLogits], n);
    }
}

/// <summary>
/// The fused symmetric InfoNCE reference: with r_i, c_j the log-sum-exps of row i and column j of a square L,
/// loss = (1/2n) sum_i (r_i + c_i - 2 L_ii) and dL_ij = (1/2n) (exp(L_ij - r_i) + exp(L_ij - c_j) - 2 [i == j]).
/// </summary>
internal static class CpuInfoNce<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void ForwardBackward(T[] logits, T[] loss, T[] dLogits, int n)
    {
        var stats = new T[2 * n];
        for (int line = 0; line < 2 * n; line++)
        {
            bool row = line < n;
            int start = row ? line * n : line - n, stride = row ? 1 : n;
            T max = T.NegativeInfinity;
            for (int k = 0; k < n; k++) max = T.Max(max, logits[start + k * stride]);
            T sum = T.Zero;
            for (int k = 0; k < n; k++) sum += T.Exp(logits[start + k * stride] - max);
            stats[line] = max + T.Log(sum);
        }
        T w = T.CreateChecked(0.5) / T.CreateChecked(n), two = T.CreateChecked(2), total = T.Zero;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                T l = logits[i * n + j];
                T g = T.Exp(l - stats[i]) + T.Exp(l - stats[n + j]);
                if (i == j)
                {
                    g -= two;
                    total += stats[i] + stats[n + i] - two * l;
                }
                dLogits[i * n + j] = w * g;
            }
        }
        loss[0] = w * total;
    }
}
