using MedClip.Nn;

namespace MedClip.Models;

/// <summary>
/// FLOPs of a dual encoder counted from its shapes, for throughput and MFU figures.
/// Convention (as in the scaling-law and MFU literature): only matrix products count, a multiply-accumulate is 2 FLOPs,
/// and a training step costs 3x the forward (backward = 2x forward: one GEMM for the input gradient, one for the
/// weight gradient), so a step is 6 x the forward multiply-accumulates. Layer norms, softmax, activations and the
/// optimizer are left out, and the patch embedding is charged a full backward although pixels need no gradient.
/// </summary>
public static class ModelFlops
{
    /// <summary>Multiply-accumulates of every matrix product in one forward pass over a batch of image-text pairs.</summary>
    public static long ForwardMultiplyAdds(DualEncoderConfig config, int batchSize, int contextLength)
    {
        var vision = config.Vision;
        var v = vision.Transformer;
        int imageTokens = vision.Patches + 1;
        long image = (long)vision.Patches * vision.Channels * vision.PatchSize * vision.PatchSize * v.Width // patch embedding
            + vision.Layers * LayerMultiplyAdds(v, imageTokens)
            + (long)v.Width * v.Width                                                                         // pooler
            + (long)v.Width * config.ProjectionDim;                                                          // visual projection
        var t = config.Text.Transformer;
        long text = config.Text.Layers * LayerMultiplyAdds(t, contextLength)
            + (long)t.Width * t.Width
            + (long)t.Width * config.ProjectionDim;
        long logits = (long)batchSize * config.ProjectionDim; // per pair: one row of img @ txt^T
        return batchSize * (image + text + logits);
    }

    /// <summary>FLOPs of one training step (forward, backward): 6 x the forward multiply-accumulates.</summary>
    public static double TrainingStepFlops(DualEncoderConfig config, int batchSize, int contextLength) =>
        6.0 * ForwardMultiplyAdds(config, batchSize, contextLength);

    // One sequence through one layer: q, k, v and output projections (4 D^2 per token), the MLP (2 D I per token),
    // and attention's scores q k^T and the weighted sum p v (T D each per token, summed over heads).
    private static long LayerMultiplyAdds(TransformerConfig c, int tokens) =>
        (long)tokens * (4L * c.Width * c.Width + 2L * c.Width * c.IntermediateSize) + 2L * tokens * tokens * c.Width;
}
