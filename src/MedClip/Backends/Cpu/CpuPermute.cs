using System.Numerics;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's permutes, of F32, F64 or I32 tensors.
public sealed partial class CpuBackend
{
    public void Permute(Tensor x, Tensor y, ReadOnlySpan<int> sourceDims, ReadOnlySpan<int> perm, bool accumulate)
    {
        SameLength(x, y);
        int[] dims = sourceDims.ToArray(), order = perm.ToArray();
        switch (x.DType)
        {
            case DType.F64: CpuPermute<double>.Run(D<double>(x), D<double>(y), dims, order, accumulate); break;
            case DType.I32: CpuPermute<int>.Run(D<int>(x), D<int>(y), dims, order, accumulate); break;
            default: CpuPermute<float>.Run(D<float>(x), D<float>(y), dims, order, accumulate); break;
        }
    }
}

/// <summary>
/// Axis permutation of a contiguous tensor (rank up to 6): y's axis i is x's axis perm[i]. The innermost output axis is
/// copied as a run when it is also x's innermost axis (the common head split/merge case).
/// </summary>
internal static class CpuPermute<T> where T : unmanaged, System.Numerics.INumber<T>
{
    public static void Run(T[] x, T[] y, int[] sourceDims, int[] perm, bool accumulate)
    {
        int rank = sourceDims.Length;
        var sourceStrides = new long[rank];
        long stride = 1;
        for (int a = rank - 1; a >= 0; a--)
        {
            sourceStrides[a] = stride;
            stride *= sourceDims[a];
        }
        var outDims = new int[rank];
        var strideOfOutAxis = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            outDims[i] = sourceDims[perm[i]];
            strideOfOutAxis[i] = sourceStrides[perm[i]];
        }
        int inner = rank == 0 ? 1 : outDims[rank - 1];
        long innerStride = rank == 0 ? 1 : strideOfOutAxis[rank - 1];
        long total = stride;
        int outerCount = inner == 0 ? 0 : (int)(total / inner);

        CpuParallel.ForRows(outerCount, inner, (start, end) =>
        {
            // Output coordinates of run `start` (all axes but the last), then stepped like an odometer, so the source
            // offset is updated by additions rather than recomputed with a division per axis for every run.
            var index = new int[rank];
            long rem = start, src = 0;
            for (int a = rank - 2; a >= 0; a--)
            {
                index[a] = (int)(rem % outDims[a]);
                rem /= outDims[a];
                src += index[a] * strideOfOutAxis[a];
            }
            for (int o = start; o < end; o++)
            {
                long dst = (long)o * inner;
                if (innerStride == 1)
                {
                    var s = x.AsSpan((int)src, inner);
                    var d = y.AsSpan((int)dst, inner);
                    if (accumulate) System.Numerics.Tensors.TensorPrimitives.Add(s, d, d);
                    else s.CopyTo(d);
                }
                else if (accumulate)
                {
                    for (int i = 0; i < inner; i++) y[dst + i] += x[src + i * innerStride];
                }
                else
                {
                    for (int i = 0; i < inner; i++) y[dst + i] = x[src + i * innerStride];
                }
                for (int a = rank - 2; a >= 0; a--)
                {
                    src += strideOfOutAxis[a];
                    if (++index[a] < outDims[a]) break;
                    src -= outDims[a] * strideOfOutAxis[a];
                    index[a] = 0;
                }
            }
        });
    }
}
