using BenchmarkDotNet.Attributes;
using MedClip.Evaluation;
using MedClip.Inference;

namespace MedClip.Benchmarks;

/// <summary>
/// One search of an index of 100,000 normalised embeddings (projection 512, the base preset's; 256, small's): the
/// matrix-vector product of <see cref="ImageIndex.TopK"/> and its top-10 heap. Target: under 50 ms on 2 cores.
/// </summary>
[MemoryDiagnoser]
public class SearchBenchmarks
{
    private EmbeddingMatrix _index = null!;
    private float[] _query = [];

    [Params(512, 256)]
    public int Dimension { get; set; }

    [GlobalSetup]
    public void FillIndex()
    {
        const int rows = 100_000;
        var rng = new Random(1);
        var data = new float[rows * Dimension];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() - 0.5);
        for (int r = 0; r < rows; r++)
        {
            var row = data.AsSpan(r * Dimension, Dimension);
            System.Numerics.Tensors.TensorPrimitives.Divide(row, System.Numerics.Tensors.TensorPrimitives.Norm<float>(row), row);
        }
        _index = new EmbeddingMatrix(data, rows, Dimension);
        _query = _index.Row(12_345).ToArray();
    }

    [Benchmark]
    public int Top10() => ImageIndex.TopK(_index, _query, 10)[0].Row;
}
