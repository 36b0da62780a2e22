using MedClip.Tensors;

namespace MedClip.Models;

/// <summary>An image encoder whose pooled output feeds the dual encoder's visual projection.</summary>
public interface IVisionTower
{
    int Width { get; }

    /// <summary>pixels [B, C, H, W] (normalised) -> pooled output [B, Width].</summary>
    Tensor Forward(Tensor pixels);

    /// <summary>pixels -> HF's last_hidden_state [B, 1 + patches, Width] and pooler_output [B, Width].</summary>
    (Tensor LastHiddenState, Tensor PoolerOutput) Encode(Tensor pixels);

    /// <summary>Freezes the tower except its last <paramref name="unlockLast"/> layers and what follows them (<see cref="Nn.TowerLock"/>).</summary>
    void Lock(int unlockLast);

    /// <summary>Inserts bottleneck adapters of <paramref name="dim"/> into every layer (<see cref="Nn.PreNormLayer.AddAdapters"/>).</summary>
    void AddAdapters(Nn.Init init, int dim);

    /// <summary>Builds the tower the config names.</summary>
    static Nn.Module Create(Nn.Init init, VisionConfig config) => config.ModelType switch
    {
        VisionModelType.ClipVision => new ClipVisionTransformer(init, config),
        _ => new VisionTransformer(init, config),
    };
}
