using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's embedding lookup and its gradient.
public sealed partial class CpuBackend
{
    public void EmbeddingForward(Tensor table, Tensor ids, Tensor y, int count, int vocab, int width) =>
        Dispatch(table, new EmbeddingForwardOp(table, D<int>(ids), y, count, vocab, width));

    private readonly struct EmbeddingForwardOp(Tensor table, int[] ids, Tensor y, int count, int vocab, int width) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuEmbedding<T>.Forward(of[table], ids, of[y], count, vocab, width);
    }

    public void EmbeddingBackward(Tensor dy, Tensor ids, Tensor dTable, int count, int vocab, int width) =>
        Dispatch(dy, new EmbeddingBackwardOp(dy, D<int>(ids), dTable, count, vocab, width));

    private readonly struct EmbeddingBackwardOp(Tensor dy, int[] ids, Tensor dTable, int count, int vocab, int width) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuEmbedding<T>.Backward(of[dy], ids, of[dTable], count, vocab, width);
    }
}

/// <summary>Embedding lookup (row gather) and its gradient (scatter-add into the table).</summary>
internal static class CpuEmbedding<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] table, int[] ids, T[] y, int count, int vocab, int width)
    {
        CheckIds(ids, count, vocab);
        CpuParallel.ForRows(count, width, (start, end) =>
        {
            for (int i = start; i < end; i++) table.AsSpan(ids[i] * width, width).CopyTo(y.AsSpan(i * width, width));
        });
    }

    // Serial over ids so repeated ids add in a fixed order; parallel over column blocks.
    public static void Backward(T[] dy, int[] ids, T[] dTable, int count, int vocab, int width)
    {
        CheckIds(ids, count, vocab);
        const int columnBlock = 64;
        int blocks = (width + columnBlock - 1) / columnBlock;
        CpuParallel.ForRows(blocks, (long)count * columnBlock, (start, end) =>
        {
            int c0 = start * columnBlock, c1 = Math.Min(width, end * columnBlock);
            for (int i = 0; i < count; i++)
            {
                var dst = dTable.AsSpan(ids[i] * width + c0, c1 - c0);
                TensorPrimitives.Add(dy.AsSpan(i * width + c0, c1 - c0), dst, dst);
            }
        });
    }

    private static void CheckIds(int[] ids, int count, int vocab)
    {
        for (int i = 0; i < count; i++)
        {
            if ((uint)ids[i] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(ids), $"Embedding: id {ids[i]} at position {i} is outside the table of {vocab} rows.");
        }
    }
}
