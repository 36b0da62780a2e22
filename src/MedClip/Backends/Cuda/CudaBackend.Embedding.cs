using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/embedding.cu: embedding lookup and its scatter-add gradient; an id outside the table raises the error word.
public sealed partial class CudaBackend
{
    public void EmbeddingForward(Tensor table, Tensor ids, Tensor y, int count, int vocab, int width)
    {
        SameType(nameof(EmbeddingForward), table, y);
        if (count == 0 || width == 0) return;
        Launch(Kernels.EmbeddingCu.EmbeddingForward(KernelType(table), P(table), P(ids), P(y), count, vocab, width, ErrorWord()), RowGrid(count, width));
    }

    public void EmbeddingBackward(Tensor dy, Tensor ids, Tensor dTable, int count, int vocab, int width)
    {
        SameType(nameof(EmbeddingBackward), dy, dTable);
        if (count == 0 || width == 0) return;
        Launch(Kernels.EmbeddingCu.EmbeddingBackward(KernelType(dy), P(dy), P(ids), P(dTable), count, vocab, width, ErrorWord()), RowGrid(count, width));
    }
}
