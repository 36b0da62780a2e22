using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Data.Text;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Tests.Models;

/// <summary>Texts padded to the context length and padded only to the batch's longest text embed alike.</summary>
public sealed class TextPaddingTests
{
    [Fact]
    public void TextEmbeddings_DoNotDependOnTrailingPadding()
    {
        var layer = new TransformerConfig(Width: 32, Heads: 4, IntermediateSize: 64, Activation.GeluErf, LayerNormEps: 1e-12, InitializerRange: 0.1);
        var vision = new VisionConfig(ImageSize: 8, PatchSize: 4, Channels: 3, Layers: 1, layer);
        var text = new TextConfig(VocabSize: 40, MaxPositions: 24, TypeVocabSize: 2, Layers: 2, layer);
        var model = new DualEncoder(new Init(CpuBackend.Instance, DType.F32, 7), new DualEncoderConfig(vision, text, ProjectionDim: 16, LogitScaleInit: 1.0));
        const int count = 3, context = 24;
        var random = new Random(8);
        int[] lengths = [5, 11, 2];
        var ids = new int[count * context];
        var mask = new int[count * context];
        for (int row = 0; row < count; row++)
            for (int t = 0; t < lengths[row]; t++)
            {
                ids[row * context + t] = random.Next(1, 40);
                mask[row * context + t] = 1;
            }
        var padded = new EncodedBatch(ids, mask, count, context);
        var trimmed = padded.TrimmedToLongest();
        Assert.Equal(11, trimmed.ContextLength);

        float[] Embed(EncodedBatch batch) => model.EncodeTexts(
            Tensor.FromArray(CpuBackend.Instance, [count, batch.ContextLength], batch.Ids),
            Tensor.FromArray(CpuBackend.Instance, [count, batch.ContextLength], batch.AttentionMask)).ToArray<float>();

        float[] full = Embed(padded), shortened = Embed(trimmed);
        Assert.Equal(full.Length, shortened.Length);
        for (int i = 0; i < full.Length; i++) Assert.Equal(full[i], shortened[i], 1e-6f);
    }
}
