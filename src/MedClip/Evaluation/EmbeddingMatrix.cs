namespace MedClip.Evaluation;

/// <summary>L2-normalised embeddings as rows of a dense [Count, Dimension] matrix on the host.</summary>
public sealed class EmbeddingMatrix(float[] data, int count, int dimension)
{
    public float[] Data { get; } = data;
    public int Count { get; } = count;
    public int Dimension { get; } = dimension;

    public ReadOnlySpan<float> Row(int i) => Data.AsSpan(i * Dimension, Dimension);

    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => System.Numerics.Tensors.TensorPrimitives.Dot(a, b);

    /// <summary>The mean of the rows, renormalised (CheXzero's prompt-template averaging).</summary>
    public float[] MeanDirection()
    {
        var mean = new float[Dimension];
        for (int i = 0; i < Count; i++) System.Numerics.Tensors.TensorPrimitives.Add(mean, Row(i), mean);
        float norm = System.Numerics.Tensors.TensorPrimitives.Norm<float>(mean);
        if (norm > 0) System.Numerics.Tensors.TensorPrimitives.Divide(mean, norm, mean);
        return mean;
    }
}
