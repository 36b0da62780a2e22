using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.IO;
using MedClip.Tensors;
using Xunit.Abstractions;

namespace MedClip.Tests.Fixtures;

/// <summary>
/// The PyTorch fixtures written by tools/reference/make_fixtures.py, read as float32 CPU tensors and compared tensor by
/// tensor: max|ours - ref| / max|ref| must stay below 1e-5. Gradients are those of (y * dy).sum() with the fixture's
/// dy, or of the scalar loss.
/// </summary>
internal static class TorchFixture
{
    private const double Tolerance = 1e-5;

    public static IBackend Cpu => CpuBackend.Instance;

    public static SafetensorsFile Load(string name) =>
        SafetensorsFile.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));

    /// <summary>The fixture tensor as a float32 CPU tensor (I32 for masks), a gradient-tracking leaf unless told otherwise.</summary>
    public static Tensor Input(SafetensorsFile f, string name, bool requiresGrad = true)
    {
        SafetensorsTensor stored = f[name];
        Shape shape = stored.Shape.Select(d => checked((int)d)).ToArray();
        Tensor tensor = stored.DType == SafetensorsDType.I32
            ? Tensor.FromArray(Cpu, shape, stored.ToInt32())
            : Tensor.FromArray(Cpu, shape, stored.ToFloat32());
        tensor.Name = name;
        tensor.RequiresGrad = requiresGrad;
        return tensor;
    }

    /// <summary>
    /// max|ours - ref| / scale below the tolerance, where scale is max|ref| unless given. A reference that is
    /// exactly zero must be matched exactly.
    /// </summary>
    public static void AssertClose(ITestOutputHelper output, SafetensorsFile f, string name, Tensor? ours, double? scale = null)
    {
        Assert.True(ours is not null, $"{name}: we computed no tensor (no gradient reached it).");
        SafetensorsTensor reference = f[name];
        Assert.True(reference.Shape.SequenceEqual(ours.Shape.ToArray().Select(d => (long)d)),
            $"{name}: our shape {ours.Shape} differs from the reference's [{string.Join(", ", reference.Shape)}].");
        float[] expected = reference.ToFloat32(), actual = ours.ToArray<float>();
        double maxError = 0, maxReference = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxError = Math.Max(maxError, Math.Abs((double)actual[i] - expected[i]));
            maxReference = Math.Max(maxReference, Math.Abs((double)expected[i]));
        }
        double denominator = scale ?? maxReference;
        if (denominator == 0)
        {
            Assert.True(maxError == 0, $"{name}: the reference is exactly zero but ours reaches {maxError:E3}.");
            return;
        }
        double relative = maxError / denominator;
        output.WriteLine($"{f.Path}: {name} relative error {relative:E2}");
        Assert.True(relative < Tolerance,
            $"{name}: relative error {relative:E3} (max |ours - ref| = {maxError:E3}, scale {denominator:E3}) is not below {Tolerance:E0}.");
    }
}
