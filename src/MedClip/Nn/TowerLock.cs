namespace MedClip.Nn;

/// <summary>
/// Locked-image (LiT) style freezing of a tower: its parameters stop requiring gradients, so backward does not reach
/// them and AdamW (which skips parameters without a gradient) neither updates nor decays them. The last
/// <c>unlockLast</c> layers stay trainable together with everything after them (final norm, pooler), as open_clip's
/// unlocked groups.
/// </summary>
public static class TowerLock
{
    public static void Apply(Module tower, IReadOnlyList<Module> layers, int unlockLast, params Module[] afterLayers)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(unlockLast);
        if (unlockLast > layers.Count)
            throw new ArgumentException($"--unlock-last {unlockLast} exceeds the tower's {layers.Count} layers.");
        foreach (var p in tower.Parameters()) p.RequiresGrad = false;
        if (unlockLast == 0) return;
        foreach (var module in layers.Skip(layers.Count - unlockLast).Concat(afterLayers))
        {
            foreach (var p in module.Parameters()) p.RequiresGrad = true;
        }
    }

    /// <summary>Makes every adapter and layer norm below <paramref name="model"/> trainable again (Houlsby's adapter tuning).</summary>
    public static void UnlockAdaptersAndNorms(Module model)
    {
        foreach (var module in model.Modules().Where(m => m is Adapter or LayerNorm))
        {
            foreach (var p in module.Parameters()) p.RequiresGrad = true;
        }
    }
}
