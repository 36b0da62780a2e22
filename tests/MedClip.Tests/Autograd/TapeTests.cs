using MedClip.Autograd;
using MedClip.Backends.Cpu;
using MedClip.Tensors;

namespace MedClip.Tests.Autograd;

public class TapeTests
{
    private static Tensor Param(params float[] values)
    {
        var t = Tensor.FromArray(CpuBackend.Instance, [values.Length], values);
        t.RequiresGrad = true;
        return t;
    }

    private static Tensor Sum(Tensor x) =>
        Ops.Reshape(Ops.MatMul(Ops.Reshape(x, [1, (int)x.Length]), Tensor.FromArray(CpuBackend.Instance, [(int)x.Length, 1], Enumerable.Repeat(1f, (int)x.Length).ToArray())), new Shape());

    [Fact]
    public void Backward_AccumulatesIntoLeafGradients_AcrossCalls()
    {
        var w = Param(1, 2, 3);
        Sum(Ops.Add(w, w)).Backward();
        Assert.Equal([2f, 2f, 2f], w.Grad!.ToArray<float>());
        Sum(w).Backward();
        Assert.Equal([3f, 3f, 3f], w.Grad!.ToArray<float>());
    }

    [Fact]
    public void Backward_TwiceThroughFreedGraph_IsAClearError()
    {
        var w = Param(1, 2);
        var loss = Sum(Ops.Activate(w, MedClip.Backends.Activation.Tanh));
        loss.Backward();
        var error = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("second time", error.Message);
    }

    [Fact]
    public void Backward_OnTensorWithoutGraph_IsAClearError()
    {
        var x = Tensor.FromArray(CpuBackend.Instance, [2], new[] { 1f, 2f });
        var error = Assert.Throws<InvalidOperationException>(() => Sum(x).Backward());
        Assert.Contains("no graph", error.Message);
    }

    [Fact]
    public void NoGradScope_RecordsNothing()
    {
        var w = Param(1, 2);
        Tensor y;
        using (GradMode.Disable()) y = Ops.Add(w, w);
        Assert.False(y.RequiresGrad);
        Assert.Null(y.GradFn);
        Assert.True(GradMode.IsEnabled);
    }

    [Fact]
    public void Backward_OnNonScalar_NamesTheShape()
    {
        var w = Param(1, 2);
        var error = Assert.Throws<InvalidOperationException>(() => Ops.Add(w, w).Backward());
        Assert.Contains("[2]", error.Message);
    }
}
