using MedClip.Data.Loading;
using MedClip.Data.Text;
using MedClip.Tensors;

namespace MedClip.Training;

/// <summary>
/// Uploads a host batch to the model's backend: pixels [B, 3, S, S] F32, token ids and mask [B, T] I32, with T the
/// batch's longest text rather than the context length (<see cref="EncodedBatch.TrimmedToLongest"/>).
/// </summary>
public static class BatchTensors
{
    public static (Tensor Pixels, Tensor Ids, Tensor Mask) From(Batch batch, Backends.IBackend backend, int imageSize, int contextLength)
    {
        int b = batch.Count;
        long pixelCount = (long)b * 3 * imageSize * imageSize;
        if (batch.Pixels.Length < pixelCount || batch.TokenIds.Length < b * contextLength)
            throw new InvalidOperationException($"Batch of {b} does not hold {imageSize}px images and {contextLength} tokens per text.");
        var pixels = Tensor.Zeros(backend, [b, 3, imageSize, imageSize]);
        backend.CopyFromHost<float>(batch.Pixels.AsSpan(0, (int)pixelCount), pixels.Storage);
        var text = new EncodedBatch(batch.TokenIds[..(b * contextLength)], batch.AttentionMask[..(b * contextLength)], b, contextLength).TrimmedToLongest();
        var ids = Tensor.Zeros(backend, [b, text.ContextLength], DType.I32);
        backend.CopyFromHost<int>(text.Ids, ids.Storage);
        var mask = Tensor.Zeros(backend, [b, text.ContextLength], DType.I32);
        backend.CopyFromHost<int>(text.AttentionMask, mask.Storage);
        return (pixels, ids, mask);
    }
}
