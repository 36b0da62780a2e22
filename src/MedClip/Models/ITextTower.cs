using MedClip.Tensors;

namespace MedClip.Models;

/// <summary>A text encoder whose pooled output feeds the dual encoder's text projection.</summary>
public interface ITextTower
{
    int Width { get; }

    /// <summary>ids and attentionMask I32 [B, T] (mask 1 for tokens, 0 for padding) -> pooled output [B, Width].</summary>
    Tensor Forward(Tensor ids, Tensor attentionMask);

    /// <summary>Freezes the tower except its last <paramref name="unlockLast"/> layers and what follows them (<see cref="Nn.TowerLock"/>).</summary>
    void Lock(int unlockLast);

    /// <summary>Inserts bottleneck adapters of <paramref name="dim"/> into every layer (<see cref="Nn.Adapter"/>).</summary>
    void AddAdapters(Nn.Init init, int dim);

    /// <summary>Builds the tower the config names.</summary>
    static Nn.Module Create(Nn.Init init, TextConfig config) => config.ModelType switch
    {
        TextModelType.ClipText => new ClipTextTransformer(init, config),
        _ => new Bert(init, config),
    };
}
