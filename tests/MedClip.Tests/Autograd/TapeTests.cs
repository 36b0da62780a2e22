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

    /// <summary>
    /// The tape keeps a tensor's values only where a backward reads them: a linear layer's output that only feeds an add
    /// can go after the forward, and under bf16 autocast so can the layer's F32 input (its weight gradient reads the
    /// BF16 copy); in fp32 the input stays (the weight gradient reads it). The gradients are the same either way.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ValuesNoBackwardReads_AreNotKeptByTheTape(bool bf16)
    {
        var w = Tensor.FromArray(CpuBackend.Instance, [3, 3], new float[] { 1, 2, 0, -1, 0.5f, 3, 0, 1, -2 });
        w.RequiresGrad = true;
        var p = Param(0.5f, -1, 2);
        var (loss, input, branch) = Forward(w, p, bf16);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(branch.IsAlive, "the linear output, which only an add reads, is still alive");
        Assert.Equal(!bf16, input.IsAlive);
        loss.Backward();
        // loss = sum((2p) W^T + 2p): dp = 2 (column sums of W) + 2.
        Assert.Equal([2f * (1 - 1 + 0) + 2, 2f * (2 + 0.5f + 1) + 2, 2f * (0 + 3 - 2) + 2], p.Grad!.ToArray<float>());
    }

    // Apart from the test so that no local of its frame holds the intermediates.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (Tensor Loss, WeakReference Input, WeakReference Branch) Forward(Tensor w, Tensor p, bool bf16)
    {
        var x = Ops.Reshape(Ops.Add(p, p), [1, 3]);
        var branch = Ops.Linear(x, w, precision: bf16 ? Precision.Bf16 : Precision.Fp32);
        var loss = Sum(Ops.Add(branch, x));
        return (loss, new WeakReference(x), new WeakReference(branch));
    }

    /// <summary>
    /// The unfused attention reshapes and permutes q, k, v into heads: the tape keeps the permuted copies the matmuls read
    /// (in fp32; their BF16 copies under bf16), never the projections' [batch, tokens, width] outputs themselves.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UnfusedAttention_KeepsNoProjectionOutput(bool bf16)
    {
        var p = Tensor.FromArray(CpuBackend.Instance, [2, 3, 4], Enumerable.Range(0, 24).Select(i => (float)Math.Sin(i)).ToArray());
        p.RequiresGrad = true;
        var (loss, q) = Attention(p, bf16);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(q.IsAlive);
        loss.Backward();
        Assert.Contains(p.Grad!.ToArray<float>(), g => g != 0);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (Tensor Loss, WeakReference Q) Attention(Tensor p, bool bf16)
    {
        var q = Ops.Add(p, p, 1, 0.5);
        var o = Ops.MultiHeadAttention(q, q, q, null, heads: 2, policy: new ComputePolicy(bf16 ? Precision.Bf16 : Precision.Fp32));
        return (Sum(Ops.Activate(o, MedClip.Backends.Activation.Tanh)), new WeakReference(q));
    }

    [Fact]
    public void Backward_AccumulatesIntoLeafGradients_AcrossCalls()
    {
        var w = Param(1, 2, 3);
        Sum(Ops.Add(w, w)).Backward();
        Assert.Equal([2f, 2f, 2f], w.Grad!.ToArray<float>());
        Sum(w).Backward();
        Assert.Equal([3f, 3f, 3f], w.Grad!.ToArray<float>());
    }

    /// <summary>
    /// In a scope, an intermediate gradient's memory goes back as soon as its node's backward has read it; the leaf's
    /// gradient stays, and a gradient someone else set is not released.
    /// </summary>
    [Fact]
    public void Backward_InAScope_ReleasesIntermediateGradientsOnce_KeepsLeafOnes()
    {
        var cpu = CpuBackend.Instance;
        int n = CpuBufferPool.MinPooledLength;
        var w = Param(Enumerable.Repeat(0.5f, n).ToArray());
        var seen = new List<Tensor>();
        using (cpu.OpenScope())
        {
            var h = Ops.Activate(w, MedClip.Backends.Activation.Tanh);
            // An op of our own that records the gradient reaching h and passes it on to h unchanged.
            var y = Tape.Record("Spy", Tensor.Zeros(cpu, h.Shape), [h], dy =>
            {
                seen.Add(dy);
                cpu.Axpy(1, dy, h.Slot.GradOrZeros());
            });
            Sum(y).Backward();
            Assert.True(((CpuStorage<float>)seen[0].Storage).IsReleased);
            Assert.False(((CpuStorage<float>)w.Grad!.Storage).IsReleased);
            Assert.Equal(1 - MathF.Tanh(0.5f) * MathF.Tanh(0.5f), w.Grad!.ToArray<float>()[^1], 5);
        }
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
