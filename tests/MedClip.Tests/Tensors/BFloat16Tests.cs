using MedClip.Backends.Cpu;
using MedClip.Tensors;

namespace MedClip.Tests.Tensors;

public class BFloat16Tests
{
    [Theory]
    [InlineData(1.0f, 1.0f)]
    [InlineData(1.00390625f, 1.0f)]        // exactly halfway between 1 and 1 + 2^-7: ties to even (1.0)
    [InlineData(1.01171875f, 1.015625f)]   // halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6)
    [InlineData(-3.14159265f, -3.140625f)]
    [InlineData(float.PositiveInfinity, float.PositiveInfinity)]
    public void Round_IsNearestEven(float value, float expected) => Assert.Equal(expected, BFloat16.Round(value));

    [Fact]
    public void Round_KeepsNaN() => Assert.True(float.IsNaN(BFloat16.Round(float.NaN)));

    [Fact]
    public void Cast_F32ToBF16AndBack_RoundsEachElement()
    {
        var be = CpuBackend.Instance;
        var source = Tensor.FromArray(be, [3], new[] { 1.00390625f, -2.5f, 1e-3f });
        var bf16 = Tensor.Zeros(be, [3], DType.BF16);
        var back = Tensor.Zeros(be, [3], DType.F32);
        be.Cast(source, bf16);
        be.Cast(bf16, back);
        Assert.Equal(new[] { 1.0f, -2.5f, BFloat16.Round(1e-3f) }, back.ToArray<float>());
    }

    [Fact]
    public void CpuOps_OnBF16_SayToCastFirst()
    {
        var be = CpuBackend.Instance;
        var e = Assert.Throws<ArgumentException>(() => be.Scale(Tensor.Zeros(be, [2], DType.BF16), 2));
        Assert.Contains("cast it first", e.Message);
    }
}
