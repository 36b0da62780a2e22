using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Losses;
using MedClip.Tensors;
using static MedClip.Tests.Autograd.GradientChecker;

namespace MedClip.Tests.Autograd;

/// <summary>
/// Every differentiable op against central finite differences in double, on odd and non-multiple-of-8 shapes (layer
/// norm's in Operators/LayerNormTests).
/// </summary>
public class OpGradientTests
{
    [Theory]
    [InlineData(false, false, 5, 7, 3)]
    [InlineData(true, false, 9, 1, 13)]
    [InlineData(false, true, 1, 11, 6)]
    [InlineData(true, true, 17, 5, 9)]
    public void MatMul_Batched_AllTransposes(bool transA, bool transB, int m, int n, int k)
    {
        var rng = new Random(m * 31 + n);
        var a = Random(rng, transA ? [3, k, m] : [3, m, k]);
        var b = Random(rng, transB ? [3, n, k] : [3, k, n]);
        Check(() => Ops.MatMul(a, b, transA, transB), [a, b]);
    }

    [Theory]
    [InlineData(false, 7, 5, 3)]
    [InlineData(true, 9, 10, 1)]
    public void MatMul_SharedRightOperand_BroadcastsOverLeadingAxes(bool transB, int m, int n, int k)
    {
        var rng = new Random(5);
        var a = Random(rng, [2, m, k]);
        var b = Random(rng, transB ? [n, k] : [k, n]);
        Check(() => Ops.MatMul(a, b, transB: transB), [a, b]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linear_WithAndWithoutBias(bool withBias)
    {
        var rng = new Random(2);
        var x = Random(rng, [2, 5, 13]);
        var w = Random(rng, [9, 13]);
        var bias = withBias ? Random(rng, [9]) : null;
        Check(() => Ops.Linear(x, w, bias), bias is null ? [x, w] : [x, w, bias]);
    }

    [Fact]
    public void Linear_WithAResidual_AllInputs()
    {
        var rng = new Random(3);
        var x = Random(rng, [2, 5, 13]);
        var w = Random(rng, [9, 13]);
        var bias = Random(rng, [9]);
        var residual = Random(rng, [2, 5, 9]);
        Check(() => Ops.Linear(x, w, bias, residual: residual), [x, w, bias, residual]);
    }

    [Fact]
    public void Mlp_WithAResidual_AllInputs()
    {
        var rng = new Random(4);
        var x = Random(rng, [2, 5, 7]);
        var (w1, b1, w2, b2) = (Random(rng, [11, 7]), Random(rng, [11]), Random(rng, [7, 11]), Random(rng, [7]));
        var residual = Random(rng, [2, 5, 7]);
        Check(() => Ops.Mlp(x, w1, b1, w2, b2, Activation.GeluTanh, residual), [x, w1, b1, w2, b2, residual]);
    }

    [Theory]
    [InlineData(Activation.GeluErf)]
    [InlineData(Activation.GeluTanh)]
    [InlineData(Activation.QuickGelu)]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Relu)]
    public void LinearActivation_FusedBiasAndActivation_AllInputs(Activation kind)
    {
        var rng = new Random(17);
        var x = Random(rng, [2, 5, 13]);
        var w = Random(rng, [9, 13]);
        var bias = Random(rng, [9]);
        Check(() => Ops.LinearActivation(x, w, bias, kind), [x, w, bias]);
    }

    [Theory]
    [InlineData(Activation.GeluErf)]
    [InlineData(Activation.GeluTanh)]
    [InlineData(Activation.QuickGelu)]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Relu)]
    public void Activation_GeluErf_GeluTanh_QuickGelu_Tanh_Relu(Activation kind)
    {
        var x = Random(new Random(3), [7, 19], scale: 4);
        Check(() => Ops.Activate(x, kind), [x]);
    }

    [Fact]
    public void Softmax_MaskedScaled_WithPaddedKeys()
    {
        var rng = new Random(4);
        var scores = Random(rng, [2, 3, 5, 7], scale: 3);
        var mask = Ints([2, 7], 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0);
        Check(() => Ops.Softmax(scores, mask, 0.37), [scores]);
    }

    [Fact]
    public void Softmax_FullyMaskedRow_IsZeroWithZeroGradient()
    {
        var scores = Random(new Random(5), [1, 1, 2, 3]);
        var mask = Ints([1, 3], 0, 0, 0);
        var y = Ops.Softmax(scores, mask, 1.0);
        Assert.All(y.ToArray<double>(), v => Assert.Equal(0.0, v));
        Check(() => Ops.Softmax(scores, mask, 1.0), [scores], requireNonZero: false);
    }

    [Fact]
    public void Embedding_RepeatedIdsAccumulate()
    {
        var table = Random(new Random(6), [11, 9]);
        var ids = Ints([2, 4], 3, 0, 3, 10, 7, 3, 0, 5);
        Check(() => Ops.Embedding(table, ids), [table]);
    }

    [Theory]
    [InlineData(new[] { 2, 5, 3, 4 }, new[] { 0, 2, 1, 3 })]
    [InlineData(new[] { 3, 7, 5 }, new[] { 2, 0, 1 })]
    [InlineData(new[] { 2, 3, 2, 3, 2, 3 }, new[] { 0, 2, 4, 1, 3, 5 })]
    public void Permute_HeadSplitAndPatchify(int[] dims, int[] perm)
    {
        var x = Random(new Random(7), dims);
        Check(() => Ops.Permute(x, perm), [x]);
    }

    [Fact]
    public void Patchify_ImageToPatchRows()
    {
        var pixels = Random(new Random(8), [2, 3, 6, 9]);
        Check(() => Ops.Patchify(pixels, 3), [pixels]);
    }

    [Fact]
    public void Reshape_And_Add_Broadcasting()
    {
        var rng = new Random(9);
        var a = Random(rng, [3, 10]);
        var b = Random(rng, [6, 5]);
        Check(() => Ops.Add(Ops.Reshape(a, [6, 5]), b, 0.3, -1.7), [a, b]);
    }

    [Fact]
    public void AddPositionEmbedding_UsesFirstRowsOfTable()
    {
        var rng = new Random(10);
        var x = Random(rng, [3, 5, 7]);
        var table = Random(rng, [9, 7]);
        Check(() => Ops.AddPositionEmbedding(x, table), [x, table], maxProbesPerInput: 63);
    }

    [Fact]
    public void SelectToken_And_PrependToken()
    {
        var rng = new Random(11);
        var x = Random(rng, [3, 4, 5]);
        var token = Random(rng, [1, 1, 5]);
        Check(() => Ops.SelectToken(Ops.PrependToken(token, x), 0), [token]);
        Check(() => Ops.SelectToken(Ops.PrependToken(token, x), 2), [x]);
        Check(() => Ops.PrependToken(token, x), [x, token]);
    }

    [Fact]
    public void L2Normalize_Rows()
    {
        var x = Random(new Random(12), [5, 13], scale: 3);
        Check(() => Ops.L2Normalize(x), [x]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CrossEntropy_AlongRowsAndColumns(bool alongColumns)
    {
        var logits = Random(new Random(13), [5, 7], scale: 3);
        var targets = alongColumns ? Ints([7], 0, 4, 2, 2, 1, 3, 0) : Ints([5], 6, 0, 3, 3, 1);
        Check(() => Ops.CrossEntropy(logits, targets, alongColumns), [logits]);
    }

    [Theory]
    [InlineData(2.6592, true)]
    [InlineData(5.0, false)]
    public void ExpScale_ClampedAtLn100(double logScale, bool scaleGetsGradient)
    {
        var x = Random(new Random(14), [4, 6]);
        var s = Tensor.FromArray(CpuBackend.Instance, new Shape(), new[] { logScale });
        s.RequiresGrad = true;
        Check(() => Ops.ExpScale(x, s, InfoNceLoss.MaxLogitScale), [x, s], requireNonZero: scaleGetsGradient);
        if (!scaleGetsGradient) Assert.Equal(0.0, s.Grad!.Item());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(6)]
    [InlineData(11)]
    public void InfoNceLoss_Symmetric(int batch)
    {
        var rng = new Random(15 + batch);
        var images = Random(rng, [batch, 9]);
        var texts = Random(rng, [batch, 9]);
        var scale = Tensor.FromArray(CpuBackend.Instance, new Shape(), new[] { 1.3 });
        scale.RequiresGrad = true;
        Check(() => InfoNceLoss.Compute(Ops.L2Normalize(images), Ops.L2Normalize(texts), scale), [images, texts, scale],
            requireNonZero: batch > 1);
    }

    [Fact]
    public void MultiHeadAttention_WithKeyPadding()
    {
        var rng = new Random(16);
        var q = Random(rng, [2, 5, 12]);
        var k = Random(rng, [2, 5, 12]);
        var v = Random(rng, [2, 5, 12]);
        var mask = Ints([2, 5], 1, 1, 1, 1, 1, 1, 1, 0, 0, 1);
        Check(() => Ops.MultiHeadAttention(q, k, v, mask, heads: 3), [q, k, v]);
    }

    [Fact]
    public void MultiHeadAttention_CausalWithKeyPadding()
    {
        var rng = new Random(18);
        var q = Random(rng, [2, 6, 12]);
        var k = Random(rng, [2, 6, 12]);
        var v = Random(rng, [2, 6, 12]);
        var mask = Ints([2, 6], 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0);
        Check(() => Ops.MultiHeadAttention(q, k, v, mask, heads: 3, causal: true), [q, k, v]);
    }

    [Fact]
    public void MultiHeadAttention_Causal_IgnoresLaterTokens()
    {
        // Changing the last token's key and value leaves every earlier query's output exactly as it was.
        var rng = new Random(19);
        var (q, k, v) = (Random(rng, [1, 5, 4]), Random(rng, [1, 5, 4]), Random(rng, [1, 5, 4]));
        var before = Ops.MultiHeadAttention(q, k, v, null, heads: 2, causal: true).ToArray<double>();
        var (k2, v2) = (k.ToArray<double>(), v.ToArray<double>());
        for (int i = 16; i < 20; i++) (k2[i], v2[i]) = (k2[i] + 3, v2[i] - 2);
        var after = Ops.MultiHeadAttention(q, Tensor.FromArray(CpuBackend.Instance, [1, 5, 4], k2), Tensor.FromArray(CpuBackend.Instance, [1, 5, 4], v2),
            null, heads: 2, causal: true).ToArray<double>();
        Assert.Equal(before[..16], after[..16]);
        Assert.NotEqual(before[16..], after[16..]);
    }

    [Fact]
    public void SelectTokens_OnePositionPerSequence()
    {
        var rng = new Random(20);
        var x = Random(rng, [3, 4, 5]);
        Check(() => Ops.SelectTokens(x, [3, 0, 2]), [x]);
    }

    [Fact]
    public void FusedMultiHeadAttention_WithKeyPaddingAndAFullyPaddedSequence()
    {
        var rng = new Random(17);
        var q = Random(rng, [3, 6, 8]);
        var k = Random(rng, [3, 6, 8]);
        var v = Random(rng, [3, 6, 8]);
        var mask = Ints([3, 6], 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        Check(() => Ops.FusedMultiHeadAttention(q, k, v, mask, heads: 2), [q, k, v]);
    }
}
