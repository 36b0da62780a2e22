using MedClip.Data.Loading;
using MedClip.Tensors;

namespace MedClip.Training;

/// <summary>Uploads a host batch to the model's backend: pixels [B, 3, S, S] F32, token ids and mask [B, T] I32.</summary>
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
        var ids = Tensor.Zeros(backend, [b, contextLength], DType.I32);
        backend.CopyFromHost<int>(batch.TokenIds.AsSpan(0, b * contextLength), ids.Storage);
        var mask = Tensor.Zeros(backend, [b, contextLength], DType.I32);
        backend.CopyFromHost<int>(batch.AttentionMask.AsSpan(0, b * contextLength), mask.Storage);
        return (pixels, ids, mask);
    }
}
