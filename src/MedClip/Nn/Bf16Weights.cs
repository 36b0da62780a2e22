using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>
/// bf16 mixed precision's weight copies: each <see cref="Linear"/> weight (the GEMM operands among the parameters) keeps
/// a BF16 copy of its F32 master values, which <see cref="Tensor.Bf16Operand"/> lends in place of a cast per step and every
/// AdamW update rewrites. Embedding tables, norms, biases, the patch kernel (used through a reshaped view) and the logit
/// scale keep no copy.
/// </summary>
public static class Bf16Weights
{
    /// <summary>Gives every linear weight of <paramref name="model"/> a current BF16 copy; returns how many weights have one.</summary>
    public static int Attach(Module model)
    {
        int count = 0;
        foreach (var linear in model.Modules().OfType<Linear>())
        {
            var w = linear.Weight;
            if (w.DType != DType.F32)
                throw new ArgumentException($"bf16 mixed precision keeps F32 master weights; {w.Describe()} is {w.DType}.");
            w.Bf16Copy ??= Tensor.Zeros(w.Backend, w.Shape, DType.BF16);
            w.Backend.Cast(w, w.Bf16Copy);
            count++;
        }
        return count;
    }
}
