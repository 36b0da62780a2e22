using MedClip.Autograd;
using MedClip.Distributed;
using MedClip.Tensors;

namespace MedClip.Losses;

/// <summary>
/// The symmetric InfoNCE loss of the global batch in data-parallel training (open_clip's ClipLoss with
/// gather_with_grad). Each rank holds n of the B = ranks * n pairs; its image and text embeddings are all-gathered with
/// gradient (<see cref="Collectives.AllGather"/>).
/// <list type="bullet">
/// <item>Global (default): every rank computes the B x B loss of the whole batch, the single-process value.</item>
/// <item>Local (--local-loss): rank r computes only its n rows against all B columns, in both directions:
/// L_r = (CE(img_r @ txt_all^T) + CE(txt_r @ img_all^T)) / 2 with targets r*n + i; the mean of L_r over the ranks is
/// the global loss, at n x B instead of B x B logits per rank.</item>
/// </list>
/// In both cases the gradient each rank ends with, averaged over the ranks, is the single-process gradient of the global
/// loss (see <see cref="Collectives.AllGather"/>).
/// </summary>
public static class DistributedInfoNceLoss
{
    /// <param name="fused">
    /// The global loss is the fused op, as <see cref="InfoNceLoss.Compute"/> in one process with the same flag; the local
    /// loss's n x B logits are not square and always take the two cross-entropies.
    /// </param>
    public static Tensor Compute(Tensor imageEmbeds, Tensor textEmbeds, Tensor logitScale, ICommunicator communicator, bool localLoss, bool fused = false)
    {
        var allImages = Collectives.AllGather(imageEmbeds, communicator);
        var allTexts = Collectives.AllGather(textEmbeds, communicator);
        if (!localLoss) return InfoNceLoss.Compute(allImages, allTexts, logitScale, fused);

        int n = imageEmbeds.Shape[0];
        var targets = Tensor.FromArray(imageEmbeds.Backend, [n], Enumerable.Range(communicator.Rank * n, n).ToArray());
        var imageToText = Ops.CrossEntropy(InfoNceLoss.Logits(imageEmbeds, allTexts, logitScale), targets);
        var textToImage = Ops.CrossEntropy(InfoNceLoss.Logits(textEmbeds, allImages, logitScale), targets);
        return Ops.Add(imageToText, textToImage, 0.5, 0.5);
    }
}
