using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Models;

/// <summary>Which HF text model a config describes (config.json model_type "bert" or "clip_text_model").</summary>
public enum TextModelType
{
    Bert,
    ClipText,
}

/// <summary>
/// Sizes of an HF BertModel or CLIPTextModel. TypeVocabSize is BERT's only; EosTokenId is CLIP's pooling token
/// (<see cref="ClipTextTransformer.EndOfTextPositions"/>).
/// </summary>
public sealed record TextConfig(int VocabSize, int MaxPositions, int TypeVocabSize, int Layers, TransformerConfig Transformer,
    TextModelType ModelType = TextModelType.Bert, int EosTokenId = 2)
{
    public void Validate()
    {
        Transformer.Validate("text_config");
        if (VocabSize <= 0 || MaxPositions <= 0 || (ModelType == TextModelType.Bert && TypeVocabSize <= 0))
            throw new ArgumentException($"text_config: vocab_size {VocabSize}, max_position_embeddings {MaxPositions} and type_vocab_size {TypeVocabSize} must be positive.");
    }

    /// <summary>The tokenizer this text tower reads from a folder: CLIP's BPE (vocab.json, merges.txt) or BERT's WordPiece (vocab.txt).</summary>
    public Data.Text.ITextTokenizer ReadTokenizer(string folder) => ModelType == TextModelType.ClipText
        ? Data.Text.ClipTokenizer.FromFolder(folder)
        : Data.Text.ReportTokenizer.FromFolder(folder);
}

/// <summary>
/// HF BertModel: word + position + token-type embeddings, LayerNorm, post-LN layers with the padding mask,
/// pooler = tanh(dense(CLS)). Token types are all 0 (single-segment reports).
/// </summary>
public sealed class Bert : Module, ITextTower
{
    private readonly TextConfig _config;

    public Bert(Init init, TextConfig config)
    {
        config.Validate();
        _config = config;
        var t = config.Transformer;
        var embeddings = Child("embeddings", new ModuleGroup());
        WordEmbeddings = embeddings.Add("word_embeddings", new Embedding(init, config.VocabSize, t.Width, t.InitializerRange));
        PositionEmbeddings = embeddings.Add("position_embeddings", new Embedding(init, config.MaxPositions, t.Width, t.InitializerRange));
        TokenTypeEmbeddings = embeddings.Add("token_type_embeddings", new Embedding(init, config.TypeVocabSize, t.Width, t.InitializerRange));
        EmbeddingLayerNorm = embeddings.Add("LayerNorm", new LayerNorm(init, t.Width, t.LayerNormEps));
        var encoder = Child("encoder", new ModuleGroup()).Add("layer", new ModuleGroup());
        Layers = Enumerable.Range(0, config.Layers).Select(i => encoder.Add(i.ToString(), new PostNormLayer(init, t))).ToArray();
        Pooler = Child("pooler", new ModuleGroup()).Add("dense", new Linear(init, t.Width, t.Width, t.InitializerRange));
    }

    public Embedding WordEmbeddings { get; }
    public Embedding PositionEmbeddings { get; }
    public Embedding TokenTypeEmbeddings { get; }
    public LayerNorm EmbeddingLayerNorm { get; }
    public PostNormLayer[] Layers { get; }
    public Linear Pooler { get; }
    public int Width => _config.Transformer.Width;

    /// <summary>Freezes the tower except its last <paramref name="unlockLast"/> layers and the pooler (<see cref="TowerLock"/>).</summary>
    public void Lock(int unlockLast) => TowerLock.Apply(this, Layers, unlockLast, Pooler);

    /// <summary>Inserts bottleneck adapters of <paramref name="dim"/> into every layer (<see cref="PostNormLayer.AddAdapters"/>).</summary>
    public void AddAdapters(Init init, int dim)
    {
        foreach (var layer in Layers) layer.AddAdapters(init, dim);
    }

    /// <summary>ids and attentionMask I32 [B, T] (mask 1 for tokens, 0 for padding) -> pooler output [B, D].</summary>
    public Tensor Forward(Tensor ids, Tensor attentionMask) => Encode(ids, attentionMask).PoolerOutput;

    /// <summary>HF's last_hidden_state [B, T, D] and pooler_output = tanh(dense(CLS)) [B, D].</summary>
    public (Tensor LastHiddenState, Tensor PoolerOutput) Encode(Tensor ids, Tensor attentionMask)
    {
        Ops.Require(ids.Rank == 2 && ids.DType == DType.I32 && attentionMask.Shape == ids.Shape && attentionMask.DType == DType.I32,
            $"Bert: ids {ids.Describe()} and attention mask {attentionMask.Describe()} must both be I32 [batch, tokens].");
        Ops.Require(ids.Shape[1] <= _config.MaxPositions,
            $"Bert: {ids.Shape[1]} tokens exceed max_position_embeddings {_config.MaxPositions}; truncate the text first.");
        var tokenTypes = Tensor.Zeros(ids.Backend, ids.Shape, DType.I32);
        var x = Ops.Add(WordEmbeddings.Forward(ids), TokenTypeEmbeddings.Forward(tokenTypes));
        x = Ops.AddPositionEmbedding(x, PositionEmbeddings.Weight);
        x = EmbeddingLayerNorm.Forward(x);
        foreach (var layer in Layers) x = layer.Forward(x, attentionMask);
        return (x, Ops.Activate(Pooler.Forward(Ops.SelectToken(x, 0)), Activation.Tanh));
    }
}
