using MedClip.Autograd;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Models;

/// <summary>
/// HF CLIPTextModel: token + position embeddings, pre-LN layers (CLIPEncoderLayer, the same <see cref="PreNormLayer"/>
/// as CLIP's vision tower) under the causal mask combined with the padding mask, final_layer_norm, pooler = the final
/// state at the end-of-text token. The HF wrapper nests everything under "text_model.", so inside a dual encoder the
/// names read text_model.text_model.*.
/// </summary>
public sealed class ClipTextTransformer : Module, ITextTower
{
    /// <summary>&lt;|endoftext|&gt; in OpenAI's 49,408-token vocabulary, the highest id there.</summary>
    public const int OpenAiEndOfTextId = 49407;

    private readonly TextConfig _config;

    public ClipTextTransformer(Init init, TextConfig config)
    {
        config.Validate();
        _config = config;
        var t = config.Transformer;
        TokenEmbedding = ChildAt("text_model.embeddings.token_embedding", new Embedding(init, config.VocabSize, t.Width, t.InitializerRange));
        PositionEmbedding = ChildAt("text_model.embeddings.position_embedding", new Embedding(init, config.MaxPositions, t.Width, t.InitializerRange));
        Layers = Enumerable.Range(0, config.Layers)
            .Select(i => ChildAt($"text_model.encoder.layers.{i}", new PreNormLayer(init, t, PreNormLayerNames.Clip))).ToArray();
        FinalLayerNorm = ChildAt("text_model.final_layer_norm", new LayerNorm(init, t.Width, t.LayerNormEps));
    }

    public Embedding TokenEmbedding { get; }
    public Embedding PositionEmbedding { get; }
    public PreNormLayer[] Layers { get; }
    public LayerNorm FinalLayerNorm { get; }
    public int Width => _config.Transformer.Width;

    public void Lock(int unlockLast) => TowerLock.Apply(this, Layers, unlockLast, FinalLayerNorm);

    public void AddAdapters(Init init, int dim)
    {
        foreach (var layer in Layers) layer.AddAdapters(init, dim);
    }

    public Tensor Forward(Tensor ids, Tensor attentionMask) => Encode(ids, attentionMask).PoolerOutput;

    /// <summary>HF's last_hidden_state [B, T, D] (after final_layer_norm) and pooler_output [B, D].</summary>
    public (Tensor LastHiddenState, Tensor PoolerOutput) Encode(Tensor ids, Tensor attentionMask)
    {
        Ops.Require(ids.Rank == 2 && ids.DType == DType.I32 && attentionMask.Shape == ids.Shape && attentionMask.DType == DType.I32,
            $"ClipTextTransformer: ids {ids.Describe()} and attention mask {attentionMask.Describe()} must both be I32 [batch, tokens].");
        Ops.Require(ids.Shape[1] <= _config.MaxPositions,
            $"ClipTextTransformer: {ids.Shape[1]} tokens exceed max_position_embeddings {_config.MaxPositions}; truncate the text first.");
        var x = Ops.AddPositionEmbedding(TokenEmbedding.Forward(ids), PositionEmbedding.Weight);
        foreach (var layer in Layers) x = layer.Forward(x, attentionMask, causal: true);
        x = FinalLayerNorm.Forward(x);
        return (x, Ops.SelectTokens(x, EndOfTextPositions(ids.ToArray<int>(), ids.Shape[0], ids.Shape[1], _config.EosTokenId)));
    }

    /// <summary>
    /// Where each sequence is pooled, as transformers decides: when every sequence's highest id is OpenAI's
    /// &lt;|endoftext|&gt; (49407), the first position of that highest id (the legacy argmax, for configs whose
    /// eos_token_id predates the fix); otherwise the first position of the config's eos_token_id, 0 when a sequence has
    /// none (argmax of an all-zero row).
    /// </summary>
    public static int[] EndOfTextPositions(int[] ids, int batch, int tokens, int eosTokenId)
    {
        bool legacy = Enumerable.Range(0, batch).All(b => ids.AsSpan(b * tokens, tokens).ToArray().Max() == OpenAiEndOfTextId);
        int target = legacy ? OpenAiEndOfTextId : eosTokenId;
        return Enumerable.Range(0, batch).Select(b => Math.Max(0, ids.AsSpan(b * tokens, tokens).IndexOf(target))).ToArray();
    }
}
