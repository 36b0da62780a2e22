using System.Runtime.CompilerServices;
using MedClip.Tensors;

namespace MedClip.Autograd;

/// <summary>
/// bf16 mixed precision in the style of torch.autocast. Inside <c>using (Autocast.Bf16())</c> the GEMMs of
/// <see cref="Ops.Linear"/> and <see cref="Ops.MatMul"/> on F32 tensors take BF16 operands (rounded to nearest even) and
/// accumulate in FP32 into F32 outputs, forward and backward (dX = dY W and dW = dY^T X read the BF16 copies of dY, W
/// and X). Activations that only feed GEMMs may be stored in BF16 and are operands as they are (<see cref="Ops.Mlp"/>'s
/// hidden layer, a pre-LN layer's norms, the fused attention's q, k, v and output); every other op, every other
/// activation, every gradient and every parameter stays F32. A parameter with a
/// <see cref="Tensor.Bf16Copy"/> lends it as its operand instead of being cast each step. The choice is made when an op
/// runs forward and recorded in its backward closure, so the backward pass follows the forward's precision.
/// Within one scope an activation is cast once however many GEMMs read it (torch.autocast's cast cache): the query, key
/// and value projections share one BF16 copy of their input, in memory kept for the backward as well.
/// </summary>
public static class Autocast
{
    [ThreadStatic] private static bool _bf16;
    // The scope's casts of activations, by tensor identity; null outside a bf16 scope. Dropped with the scope, so no cast
    // outlives a forward pass in which its source could change.
    [ThreadStatic] private static ConditionalWeakTable<Tensor, Tensor>? _casts;

    /// <summary>True inside a <see cref="Bf16"/> scope (and not inside a nested <see cref="Fp32"/> one).</summary>
    public static bool IsBf16 => _bf16;

    /// <summary>A scope in which GEMMs run on BF16 operands when <paramref name="enabled"/> (otherwise a scope that changes nothing).</summary>
    public static IDisposable Bf16(bool enabled = true) => Enter(enabled || _bf16);

    /// <summary>A scope in which GEMMs stay F32 (the contrastive logits: the loss is computed in full precision).</summary>
    public static IDisposable Fp32() => Enter(false);

    private static IDisposable Enter(bool bf16)
    {
        var (previous, previousCasts) = (_bf16, _casts);
        _bf16 = bf16;
        // A bf16 scope inside another shares its casts; an fp32 one has none.
        _casts = !bf16 ? null : _casts ?? new ConditionalWeakTable<Tensor, Tensor>();
        return new ScopeExit(() => (_bf16, _casts) = (previous, previousCasts));
    }

    /// <summary>Whether a GEMM of these operands runs on BF16 operands here (F32 ones cast, BF16 activations as they are).</summary>
    internal static bool Applies(Tensor a, Tensor b) => _bf16 && (a.DType is DType.F32 or DType.BF16) && (b.DType is DType.F32 or DType.BF16);

    /// <summary>
    /// The BF16 operand standing for <paramref name="x"/>: x itself when BF16, its kept copy, this scope's cast of it, or
    /// a fresh round-to-nearest-even cast (remembered for the rest of the scope when inside one).
    /// </summary>
    internal static Tensor Operand(Tensor x)
    {
        if (x.DType == DType.BF16) return x;
        if (x.Bf16Copy is { } copy) return copy;
        if (_casts is not null && _casts.TryGetValue(x, out var cast)) return cast;
        var y = Tensor.Zeros(x.Backend, x.Shape, DType.BF16);
        x.Backend.Cast(x, y);
        _casts?.Add(x, y);
        return y;
    }

}
