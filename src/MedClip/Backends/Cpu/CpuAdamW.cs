using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's gradient clipping and AdamW.
public sealed partial class CpuBackend
{
    public void SumOfSquares(Tensor x, Tensor sumSquares) => Dispatch(x, new SumOfSquaresOp(x, sumSquares));

    private readonly struct SumOfSquaresOp(Tensor x, Tensor sumSquares) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuAdamW<T>.SumOfSquares(of[x], of[sumSquares], x.Length);
    }

    public void ClipByNorm(Tensor x, Tensor sumSquares, double maxNorm)
    {
        double factor = maxNorm / (Math.Sqrt(sumSquares.Item()) + 1e-6);
        if (factor < 1) Scale(x, factor);
    }

    public void AdamW(Tensor parameter, Tensor gradient, Tensor m, Tensor v, in AdamWStep step, Tensor? bf16Copy = null)
    {
        SameLength(parameter, gradient);
        Dispatch(parameter, new AdamWOp(parameter, gradient, m, v, step));
        if (bf16Copy is not null)
        {
            if (bf16Copy.DType != DType.BF16 || parameter.DType != DType.F32)
                throw new ArgumentException($"AdamW: the copy {bf16Copy.Describe()} of {parameter.Describe()} must be BF16 of an F32 parameter.");
            Cast(parameter, bf16Copy);
        }
    }

    private readonly struct AdamWOp(Tensor parameter, Tensor gradient, Tensor m, Tensor v, AdamWStep step) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuAdamW<T>.Update(of[parameter], of[gradient], of[m], of[v], parameter.Length, step);
    }

    public void AdamWMultiTensor(ReadOnlySpan<AdamWTensor> tensors)
    {
        foreach (var t in tensors) AdamW(t.Parameter, t.Gradient, t.M, t.V, t.Step, t.Bf16Copy);
    }
}

/// <summary>Decoupled AdamW (Loshchilov and Hutter; torch.optim.AdamW's update order) and the squared-norm reduction.</summary>
internal static class CpuAdamW<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Update(T[] p, T[] g, T[] m, T[] v, long length, in AdamWStep step)
    {
        T lr = T.CreateChecked(step.LearningRate), b1 = T.CreateChecked(step.Beta1), b2 = T.CreateChecked(step.Beta2);
        T eps = T.CreateChecked(step.Eps), decay = T.One - lr * T.CreateChecked(step.WeightDecay);
        T bc1 = T.CreateChecked(step.BiasCorrection1), sqrtBc2 = T.Sqrt(T.CreateChecked(step.BiasCorrection2));
        CpuParallel.ForElements(length, (s, e) =>
        {
            // Vectors first, then the scalar remainder; both do the same operations in the same order, so every
            // element gets the same bits either way.
            int i = s;
            if (Vector.IsHardwareAccelerated)
            {
                Vector<T> vb1 = new(b1), vc1 = new(T.One - b1), vb2 = new(b2), vc2 = new(T.One - b2);
                Vector<T> vDecay = new(decay), vLr = new(lr), vBc1 = new(bc1), vSqrtBc2 = new(sqrtBc2), vEps = new(eps);
                for (; i + Vector<T>.Count <= e; i += Vector<T>.Count)
                {
                    var gi = new Vector<T>(g, i);
                    var mi = vb1 * new Vector<T>(m, i) + vc1 * gi;
                    var vi = vb2 * new Vector<T>(v, i) + vc2 * gi * gi;
                    mi.CopyTo(m, i);
                    vi.CopyTo(v, i);
                    (new Vector<T>(p, i) * vDecay - vLr * (mi / vBc1) / (Vector.SquareRoot(vi) / vSqrtBc2 + vEps)).CopyTo(p, i);
                }
            }
            for (; i < e; i++)
            {
                T gi = g[i];
                m[i] = b1 * m[i] + (T.One - b1) * gi;
                v[i] = b2 * v[i] + (T.One - b2) * gi * gi;
                p[i] = p[i] * decay - lr * (m[i] / bc1) / (T.Sqrt(v[i]) / sqrtBc2 + eps);
            }
        });
    }

    /// <summary>acc[0] += sum x^2, with per-chunk partials summed in order.</summary>
    public static void SumOfSquares(T[] x, T[] acc, long length)
    {
        const int chunk = 1 << 14;
        int chunks = (int)((length + chunk - 1) / chunk);
        var partial = new T[chunks];
        CpuParallel.ForRows(chunks, chunk, (start, end) =>
        {
            for (int c = start; c < end; c++)
            {
                int s = c * chunk;
                partial[c] = TensorPrimitives.SumOfSquares<T>(x.AsSpan(s, (int)Math.Min(chunk, length - s)));
            }
        });
        T sum = T.Zero;
        foreach (var p in partial) sum += p;
        acc[0] += sum;
    }
}
