using System.Numerics;
using System.Numerics.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>
/// Masked, scaled softmax over the last axis of attention scores [batch*heads*queries, keys]. Padded keys get
/// probability 0 exactly (they are skipped, not given a large negative score), so a fully padded row is all zeros.
/// </summary>
internal static class CpuSoftmax<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] x, int[]? keyMask, T[] y, int batch, int heads, int queries, int keys, T scale)
    {
        int rows = batch * heads * queries;
        CpuParallel.ForRows(rows, keys * 4L, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                var xr = x.AsSpan(r * keys, keys);
                var yr = y.AsSpan(r * keys, keys);
                if (keyMask is null)
                {
                    TensorPrimitives.Multiply(xr, scale, yr);
                    TensorPrimitives.SoftMax<T>(yr, yr);
                    continue;
                }
                var mask = keyMask.AsSpan(r / (heads * queries) * keys, keys);
                T max = T.NegativeInfinity;
                for (int k = 0; k < keys; k++)
                {
                    if (mask[k] != 0) max = T.Max(max, xr[k] * scale);
                }
                T sum = T.Zero;
                for (int k = 0; k < keys; k++)
                {
                    T e = mask[k] != 0 ? T.Exp(xr[k] * scale - max) : T.Zero;
                    yr[k] = e;
                    sum += e;
                }
                if (sum > T.Zero) TensorPrimitives.Divide(yr, sum, yr);
            }
        });
    }

    /// <summary>dx += scale * y * (dy - sum(dy*y)).</summary>
    public static void Backward(T[] y, T[] dy, T[] dx, int rows, int keys, T scale) =>
        CpuParallel.ForRows(rows, keys * 4L, (start, end) =>
        {
            var tmp = new T[keys];
            for (int r = start; r < end; r++)
            {
                var yr = y.AsSpan(r * keys, keys);
                var dyr = dy.AsSpan(r * keys, keys);
                var dxr = dx.AsSpan(r * keys, keys);
                T dot = TensorPrimitives.Dot<T>(yr, dyr);
                TensorPrimitives.Subtract(dyr, dot, tmp);
                TensorPrimitives.Multiply<T>(tmp, yr, tmp);
                TensorPrimitives.MultiplyAdd<T>(tmp, scale, dxr, dxr);
            }
        });
}
