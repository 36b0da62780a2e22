using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/permute.cu: axis permutes up to rank 6 (head split and merge, patchify), overwriting or adding.
public sealed partial class CudaBackend
{
    public void Permute(Tensor x, Tensor y, ReadOnlySpan<int> sourceDims, ReadOnlySpan<int> perm, bool accumulate)
    {
        SameLength(x, y);
        SameType(nameof(Permute), x, y);
        int rank = sourceDims.Length;
        if (rank > 6 || perm.Length != rank)
            throw new ArgumentException($"Permute: rank {rank} with {perm.Length} axes; the CUDA kernel handles rank up to 6.");
        if (x.Length == 0) return;
        var sourceStrides = new long[rank];
        long stride = 1;
        for (int a = rank - 1; a >= 0; a--)
        {
            sourceStrides[a] = stride;
            stride *= sourceDims[a];
        }
        // Output axis i (padded to 6 with leading size-1 axes) and the source stride of the axis that lands there.
        Span<int> d = [1, 1, 1, 1, 1, 1];
        Span<long> s = [0, 0, 0, 0, 0, 0];
        for (int i = 0; i < rank; i++)
        {
            d[6 - rank + i] = sourceDims[perm[i]];
            s[6 - rank + i] = sourceStrides[perm[i]];
        }
        var dtype = x.DType == DType.I32 ? DType.I32 : KernelType(x);
        Launch(Kernels.PermuteCu.Permute(dtype, P(x), P(y), x.Length, d[0], d[1], d[2], d[3], d[4], d[5], s[0], s[1], s[2], s[3], s[4], s[5],
            accumulate ? 1 : 0), Blocks(x.Length));
    }
}
