using MedClip.Tensors;

namespace MedClip.Autograd;

public static partial class Ops
{
    /// <summary>
    /// softmax(scale * scores) over keys for scores [batch, heads, queries, keys]; keyMask (I32 [batch, keys], 1 keep,
    /// 0 padding) excludes padded keys. dx += scale * y * (dy - sum(dy*y)).
    /// </summary>
    public static Tensor Softmax(Tensor scores, Tensor? keyMask, double scale)
    {
        Require(scores.Rank == 4, $"Softmax: scores {scores.Describe()} must be [batch, heads, queries, keys].");
        int batch = scores.Shape[0], heads = scores.Shape[1], queries = scores.Shape[2], keys = scores.Shape[3];
        Require(keyMask is null || (keyMask.DType == DType.I32 && keyMask.Length == (long)batch * keys),
            $"Softmax: key mask {keyMask?.Describe()} must be I32 [{batch}, {keys}] for scores {scores.Describe()}.");
        var be = scores.Backend;
        var y = Like(scores);
        be.SoftmaxForward(scores, keyMask, y, batch, heads, queries, keys, scale);
        return Tape.Record("Softmax", y, [scores], dy => be.SoftmaxBackward(y, dy, scores.GradOrZeros(), batch * heads * queries, keys, scale));
    }

    /// <summary>
    /// Multi-head scaled dot-product attention on projected q, k, v [B, T, H*d]: split heads, softmax(q k^T / sqrt d)
    /// with the key padding mask, weight v, merge heads back to [B, T, H*d].
    /// </summary>
    public static Tensor MultiHeadAttention(Tensor q, Tensor k, Tensor v, Tensor? keyMask, int heads)
    {
        Require(q.Rank == 3 && q.Shape == k.Shape && q.Shape == v.Shape && q.Shape[2] % heads == 0,
            $"MultiHeadAttention: q {q.Describe()}, k {k.Describe()}, v {v.Describe()} must be equal [batch, tokens, heads*dim] with width divisible by {heads} heads.");
        int batch = q.Shape[0], tokens = q.Shape[1], width = q.Shape[2], headDim = width / heads;
        Tensor SplitHeads(Tensor t) => Permute(Reshape(t, [batch, tokens, heads, headDim]), 0, 2, 1, 3);
        var scores = MatMul(SplitHeads(q), SplitHeads(k), transB: true);
        var probs = Softmax(scores, keyMask, 1.0 / Math.Sqrt(headDim));
        var context = MatMul(probs, SplitHeads(v));
        return Reshape(Permute(context, 0, 2, 1, 3), [batch, tokens, width]);
    }
}
