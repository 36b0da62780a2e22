using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Diagnostics;
using MedClip.Tensors;
using static MedClip.Tests.Backends.OpOperands;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// The fused CUDA kernels (bias + activation, the linear epilogues, attention) against the CPU reference under the emulator, at
/// an odd width (67 x 130: scalar kernels) and a float4 one (128 x 512: the *_vec4 kernels in F32), forward and backward,
/// in F32 (relative error 1e-5) and F64 (1e-10), as the selftest measures them.
/// </summary>
[Collection(EmulatorCollection.Name)]
public class CudaFusedOpTests(EmulatorFixture emulator)
{
    public static TheoryData<Activation, int, int, DType> BiasActivationCases()
    {
        var cases = new TheoryData<Activation, int, int, DType>();
        foreach (var kind in Enum.GetValues<Activation>())
        {
            cases.Add(kind, 67, 130, DType.F32);
            cases.Add(kind, 128, 512, DType.F32);
            cases.Add(kind, 67, 130, DType.F64);
        }
        return cases;
    }

    [EmulatorTheory]
    [MemberData(nameof(BiasActivationCases))]
    public void BiasActivation_ForwardAndBackward_MatchCpu(Activation kind, int rows, int cols, DType dtype)
    {
        var rng = new Random(cols + (int)kind);
        int n = rows * cols;
        // Outputs start as noise (forward must overwrite: =) and gradients as random values (backward must add: +=).
        var x = Pair(rng, n, dtype, 4);
        var bias = Pair(rng, cols, dtype);
        var y = Pair(rng, n, dtype);
        Run([x, bias, y], (b, t) => b.BiasActivationForward(kind, t[0], t[1], t[2], rows, cols), dtype, outputs: [0, 2]);
        Run([x, Pair(rng, n, dtype), Pair(rng, n, dtype), Pair(rng, cols, dtype)], (b, t) => b.BiasActivationBackward(kind, t[0], t[1], t[2], t[3], rows, cols),
            dtype, outputs: [2, 3]);
    }

    public static TheoryData<int, int, int, int, DType> AttentionCases() => new()
    {
        { 3, 13, 2, 8, DType.F32 },
        { 3, 70, 1, 64, DType.F32 }, // two lanes a key in dk and dv, padded and fully padded keys among them
        { 2, 37, 2, 32, DType.F32 },
        { 3, 21, 2, 16, DType.F64 },
        { 1, 40, 1, 64, DType.F64 },
    };

    /// <summary>
    /// Fused attention, forward into noise and backward into random gradients, from each side's own forward; 70 and 40
    /// tokens cross every kernel's tiles. Sequence 1 has padded keys and (at batch 3) sequence 2 is fully padded.
    /// </summary>
    [EmulatorTheory]
    [MemberData(nameof(AttentionCases))]
    public void FusedAttention_ForwardAndBackward_MatchCpu(int batch, int tokens, int heads, int dim, DType dtype)
    {
        var rng = new Random(tokens * dim);
        var shape = new AttentionShape(batch, tokens, heads, dim, 1 / Math.Sqrt(dim));
        int n = (int)shape.Elements, rows = (int)shape.Rows;
        var mask = Enumerable.Range(0, batch * tokens).Select(i => i / tokens == 2 || (i / tokens == 1 && i % tokens >= tokens / 2) ? 0 : 1).ToArray();
        var maskPair = new Operand(Tensor.FromArray(CpuBackend.Instance, [batch, tokens], mask), Tensor.FromArray(emulator.Backend, [batch, tokens], mask));
        var (q, k, v, o, lse) = (Pair(rng, n, dtype, 2), Pair(rng, n, dtype, 2), Pair(rng, n, dtype), Pair(rng, n, dtype), Pair(rng, rows, dtype));
        Run([q, k, v, maskPair, o, lse], (b, t) => b.AttentionForward(t[0], t[1], t[2], t[3], t[4], t[5], shape), dtype, outputs: [4, 5]);
        Run([q, k, v, maskPair, o, lse, Pair(rng, n, dtype), Pair(rng, n, dtype), Pair(rng, n, dtype), Pair(rng, n, dtype)],
            (b, t) => b.AttentionBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], shape), dtype, outputs: [7, 8, 9]);
    }

    /// <summary>
    /// A linear layer's bias with the residual it joins (in place, and into another tensor) and with bf16's rounding to
    /// BF16: the same float sums on both backends, so equal; 128 x 512 takes the float4 kernels.
    /// </summary>
    [EmulatorTheory]
    [InlineData(67, 130, DType.F32)]
    [InlineData(128, 512, DType.F32)]
    [InlineData(67, 130, DType.F64)]
    public void AddBiasResidual_AndAddBiasIntoBf16_MatchCpu(int rows, int cols, DType dtype)
    {
        var rng = new Random(rows + cols);
        int n = rows * cols;
        var (x, bias, residual) = (Pair(rng, n, dtype, 3), Pair(rng, cols, dtype), Pair(rng, n, dtype, 5));
        Run([x, bias, residual, Pair(rng, n, dtype)], (be, t) => be.AddBiasResidual(t[0], t[1], t[2], t[3], rows, cols), dtype, outputs: [0, 3], tolerance: 0);
        Run([x, bias, residual], (be, t) => be.AddBiasResidual(t[0], t[1], t[2], t[0], rows, cols), dtype, outputs: [0], tolerance: 0);
        if (dtype != DType.F32) return;
        var y = new Operand(Tensor.Zeros(CpuBackend.Instance, [n], DType.BF16), Tensor.Zeros(emulator.Backend, [n], DType.BF16));
        Run([x, bias, y], (be, t) => be.AddBias(t[0], t[1], rows, cols, t[2]), dtype, outputs: [0, 2], tolerance: 0);
        Assert.Contains(Get(y.Device), v => v != 0);
    }

    /// <summary>
    /// A linear layer's output gradient read once: the bias gradient (+=), the residual stream's (+=) and bf16's BF16
    /// copy, against BiasBackward, Axpy and Cast on the CPU; 1,031 rows take several row slices (atomicAdd).
    /// </summary>
    [EmulatorTheory]
    [InlineData(67, 130, DType.F32, true, true)]
    [InlineData(1031, 33, DType.F32, true, true)]
    [InlineData(67, 130, DType.F32, false, true)]
    [InlineData(67, 130, DType.F32, true, false)]
    [InlineData(67, 130, DType.F64, true, false)]
    public void BiasBackwardEpilogue_MatchesCpu(int rows, int cols, DType dtype, bool residual, bool bf16Copy)
    {
        var rng = new Random(rows * 3 + cols);
        int n = rows * cols;
        var (dy, dBias, dResidual) = (Pair(rng, n, dtype), Pair(rng, cols, dtype), Pair(rng, n, dtype));
        var copy = new Operand(Tensor.Zeros(CpuBackend.Instance, [n], DType.BF16), Tensor.Zeros(emulator.Backend, [n], DType.BF16));
        Run([dy, dBias, dResidual, copy], (be, t) => be.BiasBackwardEpilogue(t[0], t[1], residual ? t[2] : null, bf16Copy ? t[3] : null, rows, cols), dtype,
            outputs: [1, 2, 3]);
        if (bf16Copy) Assert.Contains(Get(copy.Device), v => v != 0);
        else Assert.DoesNotContain(Get(copy.Device), v => v != 0);
    }

    /// <summary>
    /// bf16 mixed precision's BF16 attention output of F32 inputs (read as they are), forward and the backward that reads
    /// it back; statistics and gradients F32.
    /// </summary>
    [EmulatorFact]
    public void FusedAttention_Bf16Output_MatchesCpu() =>
        AttentionBf16(new AttentionShape(2, 37, 2, 32, 1 / Math.Sqrt(32)), bf16Inputs: false, tensorCores: false);

    public static TheoryData<int, int, int, int, bool> Bf16InputCases() => new()
    {
        { 2, 37, 2, 32, true },  // one tile, padded keys
        { 2, 37, 2, 32, false }, // the CUDA-core kernels on the same
        { 3, 70, 1, 64, true },  // two tiles, a fully padded sequence
        { 3, 70, 1, 64, false },
        { 1, 20, 3, 16, true },
        { 3, 13, 2, 8, true },   // no tensor-core kernel for 8: the CUDA-core one
    };

    /// <summary>
    /// bf16's BF16 q, k, v: on tensor cores (or the CUDA-core kernels) against the CPU reference, which rounds p, ds and dO
    /// where the tensor cores read them.
    /// </summary>
    [EmulatorTheory]
    [MemberData(nameof(Bf16InputCases))]
    public void FusedAttention_Bf16Inputs_MatchCpu(int batch, int tokens, int heads, int dim, bool tensorCores) =>
        AttentionBf16(new AttentionShape(batch, tokens, heads, dim, 1 / Math.Sqrt(dim)), bf16Inputs: true, tensorCores);

    private void AttentionBf16(AttentionShape shape, bool bf16Inputs, bool tensorCores)
    {
        var rng = new Random(5);
        int n = (int)shape.Elements, rows = (int)shape.Rows, batch = shape.Batch, tokens = shape.Tokens;
        Operand Input(double scale)
        {
            var f32 = Pair(rng, n, DType.F32, scale);
            if (!bf16Inputs) return f32;
            var bf16 = new Operand(Tensor.Zeros(CpuBackend.Instance, [n], DType.BF16), Tensor.Zeros(emulator.Backend, [n], DType.BF16));
            CpuBackend.Instance.Cast(f32.Cpu, bf16.Cpu);
            emulator.Backend.Cast(f32.Device, bf16.Device);
            return bf16;
        }
        var (q, k, v, lse) = (Input(2), Input(2), Input(1), Pair(rng, rows, DType.F32));
        var o = new Operand(Tensor.Zeros(CpuBackend.Instance, [n], DType.BF16), Tensor.Zeros(emulator.Backend, [n], DType.BF16));
        // Sequence 0 whole, sequence 1 padded after 20 tokens (or half), sequence 2 fully padded.
        var mask = Enumerable.Range(0, batch * tokens).Select(i => (i / tokens) switch
        {
            0 => 1,
            1 => i % tokens < Math.Min(20, tokens / 2) ? 1 : 0,
            _ => 0,
        }).ToArray();
        var maskPair = new Operand(Tensor.FromArray(CpuBackend.Instance, [batch, tokens], mask), Tensor.FromArray(emulator.Backend, [batch, tokens], mask));
        var backend = emulator.Backend;
        bool saved = backend.TensorCoreAttention;
        backend.TensorCoreAttention = tensorCores;
        try
        {
            // One BF16 unit (2^-8) where an output lies within a last-bit difference of a rounding boundary (1.2e-3
            // measured once, else 0 to 5e-6). The backward's gradients are F32 sums of the same rounded p, ds and dO on
            // both sides: 5.6e-8 to 2.6e-6 measured.
            Run([q, k, v, maskPair, o, lse], (b, t) => b.AttentionForward(t[0], t[1], t[2], t[3], t[4], t[5], shape), DType.F32, outputs: [4, 5], tolerance: 4e-3);
            Assert.Contains(Get(o.Device), x => x != 0);
            Run([q, k, v, maskPair, o, lse, Pair(rng, n, DType.F32), Pair(rng, n, DType.F32), Pair(rng, n, DType.F32), Pair(rng, n, DType.F32)],
                (b, t) => b.AttentionBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], shape), DType.F32, outputs: [7, 8, 9],
                tolerance: 1e-4);
        }
        finally
        {
            backend.TensorCoreAttention = saved;
        }
    }

    [EmulatorFact]
    public void FusedAttention_HeadDimensionWithoutAKernel_IsNamed()
    {
        var shape = new AttentionShape(1, 3, 2, 12, 0.3);
        Tensor Zeros(int n) => Tensor.Zeros(emulator.Backend, [n], DType.F32);
        var e = Assert.Throws<NotSupportedException>(() => emulator.Backend.AttentionForward(Zeros(72), Zeros(72), Zeros(72), null, Zeros(72), Zeros(6), shape));
        Assert.Contains("head dimensions 8, 16, 32, 64, not 12", e.Message);

        // A model is checked before training starts: 48 wide with 4 heads has head dimension 12.
        var (micro, _) = BackendSelfTest.MicroModel();
        var config = micro with { Text = micro.Text with { Transformer = micro.Text.Transformer with { Width = 48, Heads = 4 } } };
        var refused = Assert.Throws<ArgumentException>(() => config.CheckFusedAttention(emulator.Backend));
        Assert.Equal("--attention fused: the text tower's head dimension is 12 (48 wide, 4 heads), and the CUDA fused attention has kernels for 8, 16, 32, 64 only; use --attention gemm.", refused.Message);
        config.CheckFusedAttention(CpuBackend.Instance);
    }

    private Operand Pair(Random rng, int n, DType dtype, double scale = 1) => OpOperands.Pair(emulator.Backend, rng, n, dtype, scale);
}
