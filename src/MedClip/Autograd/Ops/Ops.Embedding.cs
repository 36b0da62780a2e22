using MedClip.Tensors;

namespace MedClip.Autograd;

public static partial class Ops
{
    /// <summary>Rows of table [vocab, width] picked by I32 ids of any shape: output is ids.shape + [width].</summary>
    public static Tensor Embedding(Tensor table, Tensor ids)
    {
        Require(table.Rank == 2 && ids.DType == DType.I32, $"Embedding: needs a [vocab, width] table and I32 ids, got {table.Describe()} and {ids.Describe()}.");
        int vocab = table.Shape[0], width = table.Shape[1], count = (int)ids.Length;
        var be = table.Backend;
        var y = Tensor.Empty(be, [.. ids.Shape.ToArray(), width], table.DType);
        be.EmbeddingForward(table, ids, y, count, vocab, width);
        return Tape.Record("Embedding", y, [table], dy => be.EmbeddingBackward(dy, ids, table.GradOrZeros(), count, vocab, width));
    }

    /// <summary>x [B, T, D] + the first T rows of a position table [P, D] (HF's absolute position embeddings).</summary>
    public static Tensor AddPositionEmbedding(Tensor x, Tensor table)
    {
        Require(x.Rank == 3 && table.Rank == 2 && table.Shape[1] == x.Shape[2] && table.Shape[0] >= x.Shape[1],
            $"AddPositionEmbedding: {x.Describe()} needs a table with at least {(x.Rank == 3 ? x.Shape[1] : 0)} rows of its width, got {table.Describe()}.");
        int batch = x.Shape[0], span = x.Shape[1] * x.Shape[2];
        var be = x.Backend;
        var y = Like(x);
        be.AddScaled(x, 1, x, 0, y);
        be.AddBias(y, table, batch, span);
        var slot = x.Slot;
        return Tape.Record("AddPositionEmbedding", y, [x, table], dy =>
        {
            if (slot.RequiresGrad) be.Axpy(1, dy, slot.GradOrZeros());
            if (table.RequiresGrad) be.BiasBackward(dy, table.GradOrZeros(), batch, span);
        });
    }
}
