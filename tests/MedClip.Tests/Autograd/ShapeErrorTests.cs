using MedClip.Autograd;
using MedClip.Backends.Cpu;
using MedClip.Tensors;

namespace MedClip.Tests.Autograd;

/// <summary>Shape and dtype mismatches name the op and both shapes.</summary>
public class ShapeErrorTests
{
    private static Tensor T(Shape shape, DType dtype = DType.F32) => Tensor.Zeros(CpuBackend.Instance, shape, dtype);

    [Fact]
    public void MatMul_InnerDimensionMismatch_NamesBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Ops.MatMul(T([2, 3]), T([4, 5])));
        Assert.Contains("MatMul", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4, 5]", e.Message);
    }

    [Fact]
    public void Linear_WrongInputWidth_NamesBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Ops.Linear(T([2, 7]), T([3, 6])));
        Assert.Contains("Linear", e.Message);
        Assert.Contains("[2, 7]", e.Message);
        Assert.Contains("[3, 6]", e.Message);
    }

    [Fact]
    public void Add_DTypeMismatch_NamesBothTensors()
    {
        var e = Assert.Throws<ArgumentException>(() => Ops.Add(T([3]), T([3], DType.F64)));
        Assert.Contains("Add", e.Message);
        Assert.Contains("F32[3]", e.Message);
        Assert.Contains("F64[3]", e.Message);
    }

    [Fact]
    public void Backend_MixedDtypes_NamesTheOp()
    {
        var e = Assert.Throws<ArgumentException>(() => CpuBackend.Instance.Axpy(1, T([3]), T([3], DType.F64)));
        Assert.Contains("Axpy", e.Message);
    }

    [Fact]
    public void Embedding_IdOutsideTable_IsAClearError()
    {
        var ids = Tensor.FromArray(CpuBackend.Instance, [2], new[] { 1, 9 });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Ops.Embedding(T([5, 4]), ids));
        Assert.Contains("id 9", e.Message);
    }

    [Fact]
    public void Softmax_MaskOfWrongShape_NamesBoth()
    {
        var mask = Tensor.Zeros(CpuBackend.Instance, [2, 4], DType.I32);
        var e = Assert.Throws<ArgumentException>(() => Ops.Softmax(T([2, 1, 3, 5]), mask, 1));
        Assert.Contains("I32[2, 4]", e.Message);
    }
}
