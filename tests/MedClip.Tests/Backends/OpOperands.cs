using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Diagnostics;
using MedClip.Tensors;

namespace MedClip.Tests.Backends;

/// <summary>One operand of an op run on both backends: the CPU reference's tensor and the device's.</summary>
internal readonly record struct Operand(Tensor Cpu, Tensor Device);

/// <summary>
/// Operands for backend op tests: random values, CPU tensors of them in F32 or F64, values read back as doubles, and
/// operand pairs that an op runs on the CPU reference and on a device, compared output by output.
/// </summary>
internal static class OpOperands
{
    private static readonly CpuBackend Cpu = CpuBackend.Instance;

    // Shapes for a fused CPU op against its unfused ops. (67, 130): one task of the element loops; (128, 512): whole
    // chunks of 16,384 elements; (197, 300): chunk boundaries inside rows and a ragged end; (37, 3): rows shorter than a
    // vector, which TensorPrimitives would compute without vectors (to other roundings) if the fused op called it row by
    // row instead of on the unfused op's spans.
    public static readonly (int Rows, int Cols)[] FusedShapes = [(67, 130), (128, 512), (197, 300), (37, 3)];

    public static double[] Values(Random rng, int n, double scale = 1, double offset = 0) =>
        Enumerable.Range(0, n).Select(_ => offset + scale * (rng.NextDouble() * 2 - 1)).ToArray();

    public static Tensor Make(double[] values, DType dtype) => dtype == DType.F64
        ? Tensor.FromArray(Cpu, [values.Length], values)
        : Tensor.FromArray(Cpu, [values.Length], Array.ConvertAll(values, v => (float)v));

    public static double[] Get(Tensor t) => t.DType switch
    {
        DType.F64 => t.ToArray<double>(),
        DType.BF16 => Array.ConvertAll(t.ToArray<ushort>(), v => (double)BFloat16.ToSingle(v)),
        _ => Array.ConvertAll(t.ToArray<float>(), v => (double)v),
    };

    // Sums of up to a few hundred terms in another order: a few units in the last place of the largest term.
    public static void AssertClose(double[] expected, double[] actual, DType dtype)
    {
        double error = BackendSelfTest.RelativeError(actual, expected);
        Assert.True(error <= (dtype == DType.F64 ? 1e-13 : 1e-5), $"relative error {error:E2}");
    }

    /// <summary>n random values in [-scale, scale) as the same tensor on the CPU and on <paramref name="device"/>.</summary>
    public static Operand Pair(IBackend device, Random rng, int n, DType dtype, double scale = 1)
    {
        var values = Enumerable.Range(0, n).Select(_ => scale * (rng.NextDouble() * 2 - 1)).ToArray();
        Tensor On(IBackend backend) => dtype == DType.F64
            ? Tensor.FromArray(backend, [n], values)
            : Tensor.FromArray(backend, [n], Array.ConvertAll(values, v => (float)v));
        return new(On(Cpu), On(device));
    }

    /// <summary>Runs <paramref name="op"/> on both sides and compares the operands at <paramref name="outputs"/> (1e-5 in F32, 1e-10 in F64).</summary>
    public static void Run(Operand[] operands, Action<IBackend, Tensor[]> op, DType dtype, int[] outputs, double? tolerance = null)
    {
        op(Cpu, operands.Select(o => o.Cpu).ToArray());
        op(operands[0].Device.Backend, operands.Select(o => o.Device).ToArray());
        foreach (int i in outputs)
        {
            double error = BackendSelfTest.RelativeError(Get(operands[i].Device), Get(operands[i].Cpu));
            Assert.True(error <= (tolerance ?? (dtype == DType.F64 ? 1e-10 : 1e-5)), $"operand {i}: relative error {error:E2}");
        }
    }
}
