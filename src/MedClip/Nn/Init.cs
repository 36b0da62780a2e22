using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>
/// What modules are built with: their parameters, created with Hugging Face's default initialisation (normal with std
/// initializer_range, zero biases) on one backend in one dtype, and the compute policy their forward passes follow.
/// </summary>
public sealed class Init(IBackend backend, DType dtype, int seed, ComputePolicy? compute = null)
{
    private readonly Random _random = new(seed);

    public IBackend Backend => backend;
    public DType DType => dtype;

    /// <summary>How the modules built with this compute (<see cref="ComputePolicy.Default"/> when none is given).</summary>
    public ComputePolicy Compute { get; } = compute ?? ComputePolicy.Default;

    public Tensor Normal(Shape shape, double std)
    {
        var data = new double[shape.Elements];
        for (int i = 0; i < data.Length; i += 2)
        {
            // Box-Muller: two independent standard normals from two uniforms.
            double u1 = 1.0 - _random.NextDouble(), u2 = _random.NextDouble();
            double r = Math.Sqrt(-2 * Math.Log(u1));
            data[i] = std * r * Math.Cos(2 * Math.PI * u2);
            if (i + 1 < data.Length) data[i + 1] = std * r * Math.Sin(2 * Math.PI * u2);
        }
        return FromDoubles(shape, data);
    }

    /// <summary>
    /// MAE's 2-D sine-cosine position table for a grid x grid patch layout plus a leading token: [1 + grid^2, width],
    /// row 0 (the CLS token) zero, row 1 + r*grid + c the patch at row r, column c. Of each row, the first quarter holds
    /// sin(r w_i), the second cos(r w_i), the third sin(c w_i) and the last cos(c w_i), with w_i = 10000^(-i / (width/4)).
    /// Nearby patches start with similar embeddings, so a small ViT need not learn the image's geometry from scratch.
    /// Draws no random numbers.
    /// </summary>
    public Tensor SinCosGrid(int grid, int width)
    {
        if (grid < 1 || width < 4 || width % 4 != 0)
            throw new ArgumentException($"A sine-cosine position table needs a positive grid and a width divisible by 4, not {grid} and {width}.");
        int quarter = width / 4;
        var frequencies = Enumerable.Range(0, quarter).Select(i => Math.Pow(10000, -(double)i / quarter)).ToArray();
        var data = new double[(1 + grid * grid) * width];
        for (int r = 0; r < grid; r++)
        for (int c = 0; c < grid; c++)
        {
            int row = (1 + r * grid + c) * width;
            for (int i = 0; i < quarter; i++)
            {
                double w = frequencies[i];
                data[row + i] = Math.Sin(r * w);
                data[row + quarter + i] = Math.Cos(r * w);
                data[row + 2 * quarter + i] = Math.Sin(c * w);
                data[row + 3 * quarter + i] = Math.Cos(c * w);
            }
        }
        return FromDoubles([1 + grid * grid, width], data);
    }

    public Tensor Constant(Shape shape, double value)
    {
        var t = Tensor.Zeros(backend, shape, dtype);
        backend.Fill(t, value);
        return t;
    }

    private Tensor FromDoubles(Shape shape, double[] data) => dtype switch
    {
        DType.F64 => Tensor.FromArray(backend, shape, data),
        DType.F32 => Tensor.FromArray(backend, shape, Array.ConvertAll(data, v => (float)v)),
        _ => throw new NotSupportedException($"Parameters are created in F32 or F64, not {dtype}."),
    };
}
