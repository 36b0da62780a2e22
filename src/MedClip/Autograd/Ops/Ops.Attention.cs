using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Autograd;

public static partial class Ops
{
    /// <summary>
    /// softmax(scale * scores) over keys for scores [batch, heads, queries, keys]; keyMask (I32 [batch, keys], 1 keep,
    /// 0 padding) excludes padded keys, <paramref name="causal"/> the keys after each query. dx += scale * y * (dy - sum(dy*y)).
    /// </summary>
    public static Tensor Softmax(Tensor scores, Tensor? keyMask, double scale, bool causal = false) => Softmax(scores, keyMask, scale, causal, inPlace: false);

    /// <param name="inPlace">
    /// Write the probabilities over the scores' storage (the returned tensor is a separate tape node on it): for scores
    /// whose values nobody reads again, as in attention, where q k^T's backward needs only the scores' gradient. That
    /// keeps one [batch, heads, queries, keys] buffer per layer for the backward instead of two.
    /// </param>
    private static Tensor Softmax(Tensor scores, Tensor? keyMask, double scale, bool causal, bool inPlace)
    {
        Require(scores.Rank == 4, $"Softmax: scores {scores.Describe()} must be [batch, heads, queries, keys].");
        int batch = scores.Shape[0], heads = scores.Shape[1], queries = scores.Shape[2], keys = scores.Shape[3];
        Require(keyMask is null || (keyMask.DType == DType.I32 && keyMask.Length == (long)batch * keys),
            $"Softmax: key mask {keyMask?.Describe()} must be I32 [{batch}, {keys}] for scores {scores.Describe()}.");
        var be = scores.Backend;
        var y = inPlace ? scores.View(scores.Shape) : EmptyLike(scores);
        be.SoftmaxForward(scores, keyMask, y, batch, heads, queries, keys, scale, causal);
        var slot = scores.Slot; // the backward reads the probabilities only
        return Tape.Record("Softmax", y, [scores], dy => be.SoftmaxBackward(y, dy, slot.GradOrZeros(), batch * heads * queries, keys, scale));
    }

    /// <summary>
    /// Multi-head scaled dot-product attention on projected q, k, v [B, T, H*d]: split heads, softmax(q k^T / sqrt d)
    /// with the key padding mask (and, when <paramref name="causal"/>, without the keys after each query, HF's causal mask
    /// combined with the padding mask), weight v, merge heads back to [B, T, H*d].
    /// </summary>
    /// <remarks>
    /// With fused attention in the policy a non-causal call is <see cref="FusedMultiHeadAttention"/>; otherwise (causal
    /// calls always: the fused kernels have no causal mask) the heads are split by permutes and the scores go through two
    /// batched GEMMs around the masked softmax, at the policy's precision.
    /// </remarks>
    public static Tensor MultiHeadAttention(Tensor q, Tensor k, Tensor v, Tensor? keyMask, int heads, bool causal = false,
        ComputePolicy? policy = null)
    {
        CheckAttentionInputs(nameof(MultiHeadAttention), q, k, v, keyMask, heads);
        var (precision, attention) = policy ?? ComputePolicy.Default;
        if (attention == AttentionKind.Fused && !causal) return FusedMultiHeadAttention(q, k, v, keyMask, heads, precision);
        int batch = q.Shape[0], tokens = q.Shape[1], width = q.Shape[2], headDim = width / heads;
        Tensor SplitHeads(Tensor t) => Permute(Reshape(t, [batch, tokens, heads, headDim]), 0, 2, 1, 3);
        var scores = MatMul(SplitHeads(q), SplitHeads(k), transB: true, precision: precision);
        var probs = Softmax(scores, keyMask, 1.0 / Math.Sqrt(headDim), causal, inPlace: true);
        var context = MatMul(probs, SplitHeads(v), precision: precision);
        return Reshape(Permute(context, 0, 2, 1, 3), [batch, tokens, width]);
    }

    /// <summary>
    /// The same attention as <see cref="MultiHeadAttention"/> in one fused op each way (<see cref="IBackend.AttentionForward"/>,
    /// FlashAttention-style): q, k, v are read in place as [B, T, H*d], and only the output and a log-sum-exp per query
    /// row are kept for the backward instead of the [B, H, T, T] scores and probabilities. Of F32 inputs in fp32 it
    /// computes in F32; under bf16 it reads BF16 q, k, v (<see cref="Tensor.Bf16Operand"/>), multiplies BF16 operands with
    /// FP32 sums, as the unfused path's GEMMs do, and writes its output in BF16.
    /// </summary>
    public static Tensor FusedMultiHeadAttention(Tensor q, Tensor k, Tensor v, Tensor? keyMask, int heads, Precision precision = Precision.Fp32)
    {
        CheckAttentionInputs(nameof(FusedMultiHeadAttention), q, k, v, keyMask, heads);
        int batch = q.Shape[0], tokens = q.Shape[1], headDim = q.Shape[2] / heads;
        var shape = new AttentionShape(batch, tokens, heads, headDim, 1.0 / Math.Sqrt(headDim));
        var be = q.Backend;
        bool bf16 = precision == Precision.Bf16 && q.DType is DType.F32 or DType.BF16;
        var (oq, ok, ov) = bf16 ? (q.Bf16Operand(), k.Bf16Operand(), v.Bf16Operand()) : (q, k, v);
        // Under bf16 the output is BF16, the output projection's GEMM operand as it is (torch.autocast's attention returns
        // BF16 too); its gradient stays F32.
        var o = Tensor.Empty(be, q.Shape, oq.DType);
        // BF16 q, k, v: products on BF16 operands (tensor cores on CUDA, p, ds and dO rounded to BF16 on every backend),
        // statistics and sums F32.
        var lse = Tensor.Empty(be, [batch, heads, tokens], oq.DType == DType.BF16 ? DType.F32 : oq.DType);
        be.AttentionForward(oq, ok, ov, keyMask, o, lse, shape);
        var (qSlot, kSlot, vSlot) = (q.Slot, k.Slot, v.Slot); // the backward reads the operands and routes to q, k, v by their slots
        return Tape.Record("Attention", o, [q, k, v], dO => be.AttentionBackward(oq, ok, ov, keyMask, o, lse, dO,
            qSlot.RequiresGrad ? qSlot.GradOrZeros() : null, kSlot.RequiresGrad ? kSlot.GradOrZeros() : null, vSlot.RequiresGrad ? vSlot.GradOrZeros() : null, shape));
    }

    private static void CheckAttentionInputs(string op, Tensor q, Tensor k, Tensor v, Tensor? keyMask, int heads)
    {
        Require(heads > 0 && q.Rank == 3 && q.Shape == k.Shape && q.Shape == v.Shape && q.DType == k.DType && q.DType == v.DType && q.Shape[2] % heads == 0,
            $"{op}: q {q.Describe()}, k {k.Describe()}, v {v.Describe()} must be equal [batch, tokens, heads*dim] with width divisible by {heads} heads.");
        Require(keyMask is null || (keyMask.DType == DType.I32 && keyMask.Length == (long)q.Shape[0] * q.Shape[1]),
            $"{op}: key mask {keyMask?.Describe()} must be I32 [{q.Shape[0]}, {q.Shape[1]}] for q {q.Describe()}.");
    }
}
