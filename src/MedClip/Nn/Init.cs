using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>Creates parameter tensors with Hugging Face's default initialisation (normal with std initializer_range, zero biases).</summary>
public sealed class Init(IBackend backend, DType dtype, int seed)
{
    private readonly Random _random = new(seed);

    public IBackend Backend => backend;
    public DType DType => dtype;

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
