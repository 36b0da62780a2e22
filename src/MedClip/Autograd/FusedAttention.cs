namespace MedClip.Autograd;

/// <summary>
/// Which attention <see cref="Ops.MultiHeadAttention"/> runs: inside <c>using (FusedAttention.Enable())</c> the fused
/// kernels of <see cref="Ops.FusedMultiHeadAttention"/>, otherwise permutes, batched GEMMs and the masked softmax.
/// Like <see cref="Autocast"/> the choice is per thread and made when an op runs forward.
/// </summary>
public static class FusedAttention
{
    [ThreadStatic] private static bool _enabled;

    public static bool IsEnabled => _enabled;

    /// <summary>A scope in which attention is fused when <paramref name="enabled"/> (otherwise one that changes nothing).</summary>
    public static IDisposable Enable(bool enabled = true)
    {
        bool previous = _enabled;
        _enabled = enabled || previous;
        return new ScopeExit(() => _enabled = previous);
    }
}
