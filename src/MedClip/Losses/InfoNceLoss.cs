using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Losses;

/// <summary>
/// CLIP's symmetric InfoNCE loss on L2-normalised embeddings: logits = exp(min(logit_scale, ln 100)) * img @ txt^T,
/// loss = (CE over rows + CE over columns) / 2 with pair i matching pair i.
/// </summary>
public static class InfoNceLoss
{
    /// <summary>open_clip clamps the learned temperature so that exp(logit_scale) stays at most 100.</summary>
    public static readonly double MaxLogitScale = Math.Log(100);

    /// <param name="fused">One fused loss-and-gradient op (<see cref="Ops.InfoNce"/>) instead of two cross-entropies.</param>
    public static Tensor Compute(Tensor imageEmbeds, Tensor textEmbeds, Tensor logitScale, bool fused = false)
    {
        var logits = Logits(imageEmbeds, textEmbeds, logitScale);
        return fused ? Ops.InfoNce(logits) : FromLogits(logits);
    }

    /// <summary>Scaled similarities [images, texts] (logits_per_image in HF); an F32 GEMM under every precision.</summary>
    public static Tensor Logits(Tensor imageEmbeds, Tensor textEmbeds, Tensor logitScale) =>
        Ops.ExpScale(Ops.MatMul(imageEmbeds, textEmbeds, transB: true), logitScale, MaxLogitScale);

    public static Tensor FromLogits(Tensor logits)
    {
        int n = logits.Shape[0];
        Ops.Require(logits.Rank == 2 && logits.Shape[1] == n, $"InfoNceLoss: logits {logits.Describe()} must be square (one text per image).");
        var targets = Tensor.FromArray(logits.Backend, [n], Enumerable.Range(0, n).ToArray());
        var imageToText = Ops.CrossEntropy(logits, targets);
        var textToImage = Ops.CrossEntropy(logits, targets, alongColumns: true);
        return Ops.Add(imageToText, textToImage, 0.5, 0.5);
    }
}
