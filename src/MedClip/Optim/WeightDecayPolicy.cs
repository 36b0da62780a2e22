using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Optim;

/// <summary>
/// Which parameters AdamW decays: matrices (and the patch convolution) only; biases, norm weights, position
/// embeddings, the CLS token and the logit scale are exempt, as in open_clip and HF's Trainer.
/// </summary>
public static class WeightDecayPolicy
{
    public static bool Applies(string name, Tensor parameter) =>
        parameter.Rank >= 2 && !name.EndsWith("position_embeddings") && !name.EndsWith("position_embeddings.weight") && !name.EndsWith("cls_token");

    public static IEnumerable<(string Name, Tensor Parameter, bool Decay)> Groups(Module model) =>
        model.NamedParameters().Select(p => (p.Name, p.Tensor, Applies(p.Name, p.Tensor)));
}
