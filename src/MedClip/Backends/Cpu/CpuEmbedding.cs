using System.Numerics;
using System.Numerics.Tensors;

namespace MedClip.Backends.Cpu;

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
