using MedClip.Autograd;
using MedClip.Backends.Cuda;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Backends;

/// <summary>One comparison of a backend against the reference: the relative error and the tolerance it had to meet.</summary>
public sealed record SelfTestCheck(string Name, double Error, double Tolerance, string? Failure = null)
{
    public bool Passed => Failure is null && Error <= Tolerance;

    public override string ToString() => Failure is not null
        ? $"FAIL {Name}: {Failure}"
        : $"{(Passed ? "ok  " : "FAIL")} {Name}: relative error {Error:0.00e+00} (tolerance {Tolerance:0e+00})";
}

/// <summary>
/// Runs every op of a backend forward and backward against the CPU reference on random inputs of awkward sizes, then
/// trains a small dual encoder on both for a few steps and compares losses, every gradient and parameter checksums. The
/// error of a tensor is max |device - reference| / max |reference|. Forward outputs start filled with noise (so "="
/// is checked) and gradient outputs with random values (so "+=" is checked). Shared by `medclip-train selftest` and the
/// tests.
/// </summary>
public sealed class BackendSelfTest
{
    private readonly IBackend _device;
    private readonly IBackend _reference;
    private readonly DType _dtype;
    private readonly Random _random;

    public BackendSelfTest(IBackend device, IBackend reference, DType dtype = DType.F32, int seed = 1)
    {
        if (dtype is not (DType.F32 or DType.F64)) throw new ArgumentException($"The self-test computes in F32 or F64, not {dtype}.");
        _device = device;
        _reference = reference;
        _dtype = dtype;
        _random = new Random(seed);
        Tolerance = dtype == DType.F64 ? 1e-10 : 1e-5;
    }

    /// <summary>Allowed relative error of one op (1e-5 in F32, 1e-10 in F64).</summary>
    public double Tolerance { get; }

    /// <summary>Every op of <see cref="IBackend"/>, forward and backward.</summary>
    public IEnumerable<SelfTestCheck> OpChecks()
    {
        yield return Run("fill", Fill);
        yield return Run("cast F32/F64/BF16 round trips", Casts);
        yield return Run("copy_blocks (=, strided)", () => CopyBlocks(false));
        yield return Run("copy_blocks (+=, broadcast source)", () => CopyBlocks(true));
        foreach (int n in new[] { 769, 1028 })
        {
            yield return Run($"add_scaled n={n}", () => Op([R(n), R(n), R(n)], [2], (b, t) => b.AddScaled(t[0], 0.7, t[1], -1.3, t[2])));
            yield return Run($"axpy n={n}", () => Op([R(n), R(n)], [1], (b, t) => b.Axpy(-0.45, t[0], t[1])));
        }
        yield return Run("scale", () => Op([R(769)], [0], (b, t) => b.Scale(t[0], 1.7)));
        yield return Run("scale_by_tensor", () => Op([R(769), R(1)], [0], (b, t) => b.ScaleByTensor(t[0], t[1])));

        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            var s = new GemmShape(ta, tb, M: 7, N: 33, K: 130, Alpha: 0.7, Beta: 0.3);
            yield return Run($"gemm {(ta ? "T" : "N")}{(tb ? "T" : "N")} 7x33x130 beta=0.3", () => Gemm(s, nanInC: false));
        }
        yield return Run("gemm batched 3 x 13x7x33, B shared (stride 0), beta=0 over NaN",
            () => Gemm(new GemmShape(false, true, 13, 7, 33, Batch: 3, StrideA: 13 * 33, StrideB: 0, StrideC: 13 * 7), nanInC: true));

        yield return Run("add_bias 91x130", () => Op([R(91 * 130), R(130)], [0], (b, t) => b.AddBias(t[0], t[1], 91, 130)));
        yield return Run("add_bias_residual 91x130 in place", () => Op([R(91 * 130), R(130), R(91 * 130)], [0],
            (b, t) => b.AddBiasResidual(t[0], t[1], t[2], t[0], 91, 130)));
        yield return Run("add_bias_residual 64x132 (float4) into another tensor", () => Op([R(64 * 132), R(132), R(64 * 132), R(64 * 132)], [3],
            (b, t) => b.AddBiasResidual(t[0], t[1], t[2], t[3], 64, 132)));
        yield return Run("bias_backward 91x130", () => Op([R(91 * 130), R(130)], [1], (b, t) => b.BiasBackward(t[0], t[1], 91, 130)));
        yield return Run("bias_backward 1031x33 (row slices)", () => Op([R(1031 * 33), R(33)], [1], (b, t) => b.BiasBackward(t[0], t[1], 1031, 33)));
        yield return Run("bias_backward with the residual's gradient 1031x33", () => Op([R(1031 * 33), R(33), R(1031 * 33)], [1, 2],
            (b, t) => b.BiasBackwardEpilogue(t[0], t[1], t[2], null, 1031, 33)));

        foreach (int cols in new[] { 33, 769, 132 })
        {
            yield return Run($"layernorm forward 7x{cols}", () => Op([R(7 * cols, 2, 0.5), R(cols), R(cols), R(7 * cols), R(7), R(7)], [3, 4, 5],
                (b, t) => b.LayerNormForward(t[0], t[1], t[2], t[3], t[4], t[5], 7, cols, 1e-5)));
            yield return Run($"layernorm backward 7x{cols}", () => LayerNormBackward(7, cols));
        }
        yield return Run("layernorm backward 1031x33 (row slices)", () => LayerNormBackward(1031, 33));
        foreach (int cols in new[] { 33, 132 })
        {
            yield return Run($"add+layernorm forward 7x{cols}, sum kept", () => AddLayerNormForward(7, cols, keepSum: true));
            yield return Run($"add+layernorm forward 7x{cols}, sum not kept", () => AddLayerNormForward(7, cols, keepSum: false));
            yield return Run($"add+layernorm backward 7x{cols}", () => AddLayerNormBackward(7, cols, bothGradients: true));
        }
        yield return Run("add+layernorm backward 7x132, no gradient for b", () => AddLayerNormBackward(7, 132, bothGradients: false));
        yield return Run("add+layernorm backward 1031x33 (row slices)", () => AddLayerNormBackward(1031, 33, bothGradients: true));

        foreach (var kind in Enum.GetValues<Activation>())
        {
            foreach (int n in new[] { 769, 1028 })
            {
                yield return Run($"activation {kind} forward n={n}", () => Op([R(n, 4), R(n)], [1], (b, t) => b.ActivationForward(kind, t[0], t[1])));
                yield return Run($"activation {kind} backward n={n}", () => Op([R(n, 4), R(n), R(n)], [2], (b, t) => b.ActivationBackward(kind, t[0], t[1], t[2])));
            }
            foreach (int cols in new[] { 130, 132 })
            {
                yield return Run($"bias+activation {kind} forward 91x{cols}", () => Op([R(91 * cols, 4), R(cols), R(91 * cols)], [0, 2],
                    (b, t) => b.BiasActivationForward(kind, t[0], t[1], t[2], 91, cols)));
            }
            foreach (var (rows, cols) in new[] { (91, 130), (1031, 33) })
            {
                string slices = rows > 256 ? " (row slices)" : "";
                yield return Run($"bias+activation {kind} backward {rows}x{cols}{slices}", () => Op([R(rows * cols, 4), R(rows * cols), R(rows * cols), R(cols)],
                    [2, 3], (b, t) => b.BiasActivationBackward(kind, t[0], t[1], t[2], t[3], rows, cols)));
            }
        }

        yield return Run("softmax forward 3x5x7x13, no mask", () => Softmax(masked: false));
        yield return Run("softmax forward 3x5x7x13, padded keys and a fully padded sequence", () => Softmax(masked: true));
        yield return Run("softmax forward 3x5x13x13, causal with padded keys", () => Softmax(masked: true, causal: true));
        yield return Run("softmax backward 105x13", () => Op([Probabilities(105, 13), R(105 * 13), R(105 * 13)], [2],
            (b, t) => b.SoftmaxBackward(t[0], t[1], t[2], 105, 13, 0.37)));

        foreach (var (batch, tokens, heads, dim) in new[] { (3, 13, 2, 8), (3, 70, 1, 64), (2, 37, 2, 32), (1, 20, 3, 16) })
        {
            var shape = new AttentionShape(batch, tokens, heads, dim, 1 / Math.Sqrt(dim));
            string name = $"fused attention {batch}x{tokens}x{heads}x{dim}";
            string padding = batch >= 3 ? ", padded keys and a fully padded sequence" : ", padded keys";
            if (dim == 8) yield return Run($"{name} forward, no mask", () => Attention(shape, masked: false, backward: false));
            yield return Run($"{name} forward{padding}", () => Attention(shape, masked: true, backward: false));
            yield return Run($"{name} backward{padding}", () => Attention(shape, masked: true, backward: true));
        }

        yield return Run("embedding forward 21 ids, 37x33 table", () => Op([R(37 * 33), Ints(21, 37), R(21 * 33)], [2],
            (b, t) => b.EmbeddingForward(t[0], t[1], t[2], 21, 37, 33)));
        yield return Run("embedding backward, repeated ids", () => Op([R(21 * 33), Ints(21, 5), R(37 * 33)], [2],
            (b, t) => b.EmbeddingBackward(t[0], t[1], t[2], 21, 37, 33)));

        yield return Run("permute head split [3,7,5,6] (0,2,1,3)", () => Op([R(3 * 7 * 5 * 6), R(3 * 7 * 5 * 6)], [1],
            (b, t) => b.Permute(t[0], t[1], [3, 7, 5, 6], [0, 2, 1, 3], accumulate: false)));
        yield return Run("permute patchify rank 6 (0,2,4,1,3,5) +=", () => Op([R(2 * 3 * 2 * 4 * 3 * 4), R(2 * 3 * 2 * 4 * 3 * 4)], [1],
            (b, t) => b.Permute(t[0], t[1], [2, 3, 2, 4, 3, 4], [0, 2, 4, 1, 3, 5], accumulate: true)));
        yield return Run("permute I32 [5,3,7] (2,0,1)", () => Op([Ints(105, 1000), Ints(105, 1)], [1],
            (b, t) => b.Permute(t[0], t[1], [5, 3, 7], [2, 0, 1], accumulate: false)));

        yield return Run("l2norm forward 7x130", () => Op([R(7 * 130), R(7 * 130), R(7)], [1, 2], (b, t) => b.L2NormalizeForward(t[0], t[1], t[2], 7, 130)));
        yield return Run("l2norm backward 7x130", L2NormalizeBackward);

        foreach (var (rows, cols) in new[] { (7, 7), (7, 13) })
        {
            foreach (bool alongColumns in new[] { false, true })
            {
                string axis = alongColumns ? "columns" : "rows";
                int count = alongColumns ? cols : rows, length = alongColumns ? rows : cols;
                yield return Run($"cross-entropy forward {rows}x{cols} along {axis}", () => Op([R(rows * cols, 5), Ints(count, length), R(1)], [2],
                    (b, t) => b.CrossEntropyForward(t[0], t[1], t[2], rows, cols, alongColumns, 1.0 / count)));
                yield return Run($"cross-entropy backward {rows}x{cols} along {axis}", () => Op([R(rows * cols, 5), Ints(count, length), R(1), R(rows * cols)], [3],
                    (b, t) => b.CrossEntropyBackward(t[0], t[1], t[2], t[3], rows, cols, alongColumns, 1.0 / count)));
            }
        }
        foreach (double logScale in new[] { 2.6592, 5.0 })
        {
            string clamp = logScale > Math.Log(100) ? "clamped" : "unclamped";
            yield return Run($"exp_scale forward, {clamp}", () => Op([R(91), Constant(logScale), R(91)], [2], (b, t) => b.ExpScaleForward(t[0], t[1], t[2], Math.Log(100))));
            yield return Run($"exp_scale backward, {clamp}", () => Op([R(91), Constant(logScale), R(91), R(91), R(1)], [3, 4],
                (b, t) => b.ExpScaleBackward(t[0], t[1], t[2], t[3], t[4], Math.Log(100))));
        }

        foreach (int n in new[] { 7, 37 })
            yield return Run($"infonce fused forward+backward {n}x{n}", () => Op([R(n * n, 8), R(1), R(n * n)], [1, 2], (b, t) => b.InfoNceForwardBackward(t[0], t[1], t[2], n)));
        yield return Run("sum_of_squares n=2307", () => Op([R(2307), R(1)], [1], (b, t) => b.SumOfSquares(t[0], t[1])));
        yield return Run("adamw two steps n=769", AdamW);
        yield return Run("adamw multi-tensor, 5 tensors with own lr and decay, against the reference", () => AdamWMultiTensor(againstReference: true));
        yield return Run("adamw multi-tensor equals per-tensor adamw on the device, bit for bit", () => AdamWMultiTensor(againstReference: false), tolerance: 0);
    }

    /// <summary>F32 GEMM on TF32 tensor cores against the FP32 reference (CUDA only), at a TF32-sized tolerance.</summary>
    public IEnumerable<SelfTestCheck> Tf32Checks()
    {
        if (_device is not CudaBackend cuda || _dtype != DType.F32) yield break;
        bool previous = cuda.AllowTf32;
        cuda.AllowTf32 = true;
        try
        {
            yield return Run("gemm TF32 NT 7x33x130", () => Gemm(new GemmShape(false, true, 7, 33, 130), nanInC: false), tolerance: 1e-2);
        }
        finally
        {
            cuda.AllowTf32 = previous;
        }
    }

    /// <summary>
    /// bf16 mixed precision: GEMMs with BF16 inputs accumulated in FP32 (against the CPU on the same rounded inputs), a
    /// linear layer, an attention-style batched matmul and the MLP with its BF16 hidden layer under <see cref="Autocast"/>
    /// forward and backward (the CPU emulates the same rounding), the fused attention's and the layer norms' BF16 outputs,
    /// and AdamW writing the BF16 weight copy.
    /// </summary>
    public IEnumerable<SelfTestCheck> Bf16Checks()
    {
        if (_dtype != DType.F32) yield break;
        if (_device is CudaBackend)
        {
            yield return Run("gemm BF16 inputs -> F32, NT 7x33x130", () => Bf16Gemm(DType.F32, 7, 33, 130), tolerance: 1e-5);
            // The K of an MLP's output projection (4 x width), past one 256-deep block of the CPU GEMM.
            yield return Run("gemm BF16 inputs -> F32, NT 64x128x512", () => Bf16Gemm(DType.F32, 64, 128, 512), tolerance: 1e-5);
            yield return Run("gemm BF16 inputs -> BF16, NN 7x33x130", () => Bf16Gemm(DType.BF16, 7, 33, 130), tolerance: 1e-2);
        }
        yield return Run("linear 13x130 -> 33 under bf16 autocast, forward and backward", () => AutocastLinear(13, 130, 33, null));
        yield return Run("linear + erf GELU 13x130 -> 36 under bf16 autocast, forward and backward", () => AutocastLinear(13, 130, 36, Activation.GeluErf));
        yield return Run("batched matmul 3 x 7x33 @ (9x33)^T under bf16 autocast, forward and backward", AutocastMatMul);
        // BF16 hidden values: an activation that lands within a last-bit difference of a BF16 rounding boundary rounds
        // one unit (2^-8) apart on the two backends, hence the looser tolerance.
        yield return Run("mlp 13x40 -> 36 -> 40, tanh GELU, BF16 hidden layer under bf16 autocast, forward and backward",
            () => AutocastMlp(13, 40, 36, Activation.GeluTanh), tolerance: Bf16TrainingTolerance);
        yield return Run("fused attention 3x37x2x32 with a BF16 output, of F32 and of BF16 inputs, padded keys, forward and backward",
            () => AttentionBf16Output(new AttentionShape(3, 37, 2, 32, 1 / Math.Sqrt(32)), [false, true]), tolerance: Bf16TrainingTolerance);
        // Three key tiles, whose running maximum p is rounded against (the CPU follows the kernels' tiles).
        yield return Run("fused attention 2x150x1x64 of BF16 inputs (3 key tiles), padded keys, forward and backward",
            () => AttentionBf16Output(new AttentionShape(2, 150, 1, 64, 0.125), [true]), tolerance: Bf16TrainingTolerance);
        yield return Run("bias_backward with the residual's gradient and the BF16 copy 91x130",
            () => Op([R(91 * 130), R(130), R(91 * 130), Bf16Zeros(91 * 130)], [1, 2, 3], (b, t) => b.BiasBackwardEpilogue(t[0], t[1], t[2], t[3], 91, 130)));
        // The same F32 sums rounded to nearest even on both sides: equal.
        foreach (int cols in new[] { 130, 132 })
        {
            yield return Run($"add_bias_to_bf16 13x{cols}{(cols % 4 == 0 ? " (float4)" : "")}",
                () => Op([R(13 * cols), R(cols), Bf16Zeros(13 * cols)], [2], (b, t) => b.AddBiasToBf16(t[0], t[1], t[2], 13, cols)));
        }
        yield return Run("layernorm and add+layernorm (sum kept) 7x132 with a BF16 output", LayerNormBf16Output, tolerance: Bf16TrainingTolerance);
        yield return Run("adamw two steps n=769 writing the BF16 copy", AdamWBf16Copy);
    }

    // ---- training ------------------------------------------------------------------------------------------------------

    /// <summary>A dual encoder small enough for the emulator: 2+2 layers of width 16, 16 px images, context 9.</summary>
    public static (DualEncoderConfig Config, int Context) MicroModel()
    {
        var layer = new TransformerConfig(Width: 16, Heads: 2, IntermediateSize: 24, Activation.GeluErf, LayerNormEps: 1e-12);
        var vision = new VisionConfig(ImageSize: 16, PatchSize: 8, Channels: 3, Layers: 2, layer);
        var text = new TextConfig(VocabSize: 31, MaxPositions: 12, TypeVocabSize: 2, Layers: 2, layer with { Activation = Activation.GeluTanh });
        return (new DualEncoderConfig(vision, text, ProjectionDim: 8), 9);
    }

    /// <summary>
    /// Trains the same model from the same initialisation on both backends for <paramref name="steps"/> AdamW steps and
    /// compares each step's loss, every parameter gradient of the first step, and parameter checksums at the end.
    /// </summary>
    /// <param name="bf16">Both runs in bf16 mixed precision with the fused InfoNCE loss (the CPU emulating it), compared at <see cref="Bf16TrainingTolerance"/> unless a tolerance is given.</param>
    /// <param name="fusedAttention">Both runs with <see cref="FusedAttention"/> (the attention kernels of <see cref="IBackend.AttentionForward"/>).</param>
    public IEnumerable<SelfTestCheck> TrainingChecks(DualEncoderConfig config, int batch, int context, int steps = 2, double? tolerance = null,
        bool bf16 = false, bool fusedAttention = false)
    {
        // An iterator, so that the runs start when the checks are enumerated (after the op checks have printed).
        var (first, second) = (TrainOrFail(_reference, config, batch, context, steps, bf16, fusedAttention),
            TrainOrFail(_device, config, batch, context, steps, bf16, fusedAttention));
        string label = (bf16, fusedAttention) switch
        {
            (true, true) => " (bf16, fused attention)",
            (true, false) => " (bf16)",
            (false, true) => " (fused attention)",
            _ => "",
        };
        foreach (var check in Compare(first, second, steps, tolerance ?? (bf16 ? Bf16TrainingTolerance : 1e-4), label, "cpu",
                     floor: fusedAttention ? 1e-2 : 1e-3))
            yield return check;
    }

    /// <summary>
    /// Allowed relative error between two bf16 runs that round the same operands but sum in different orders (CUDA
    /// against the CPU emulation): the rounding of an activation that lands on a bf16 tie can differ by one bf16 unit
    /// (2^-8 relative) and carry through the later layers.
    /// </summary>
    public const double Bf16TrainingTolerance = 2e-3;

    /// <summary>
    /// Allowed relative error between a bf16 and an fp32 run on the same backend: operands carry 8 significant bits,
    /// so single GEMMs are off by about 2^-9, losses and parameter sums after two steps by 1e-3 or less, and step-1
    /// gradients by a few percent of their largest value where column sums cancel (measured on the CPU emulation:
    /// 2e-2 for the micro model, 4e-2 to 5e-2 for tiny at batch 8 and 4, worst on attention-output and MLP biases).
    /// With tiny as it is now (std 0.1 initialisation, logit scale 30) the logit scale's gradient, a sum that cancels,
    /// ends 0.53 apart on the emulator, one reason selftest compares bf16 training on the micro model.
    /// </summary>
    public const double Bf16VersusFp32Tolerance = 1e-1;

    /// <summary>The same training on the device in bf16 and in fp32, compared at <see cref="Bf16VersusFp32Tolerance"/>.</summary>
    public IEnumerable<SelfTestCheck> Bf16VersusFp32Checks(DualEncoderConfig config, int batch, int context, int steps = 2)
    {
        var (fp32, bf16) = (TrainOrFail(_device, config, batch, context, steps, false), TrainOrFail(_device, config, batch, context, steps, true));
        foreach (var check in Compare(fp32, bf16, steps, Bf16VersusFp32Tolerance, " bf16 against fp32", "fp32", floor: 1e-2))
            yield return check;
    }

    private (TrainingRun? Run, string? Failure) TrainOrFail(IBackend backend, DualEncoderConfig config, int batch, int context, int steps, bool bf16,
        bool fusedAttention = false)
    {
        try
        {
            return (Train(backend, config, batch, context, steps, bf16, fusedAttention), null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (null, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static IEnumerable<SelfTestCheck> Compare((TrainingRun? Run, string? Failure) first, (TrainingRun? Run, string? Failure) second,
        int steps, double tolerance, string label, string referenceName, double floor = 1e-3)
    {
        var (reference, device) = (first.Run, second.Run);
        string? failure = first.Failure ?? second.Failure;
        if (failure is not null)
        {
            yield return new SelfTestCheck("training run" + label, double.NaN, tolerance, failure);
            yield break;
        }
        for (int s = 0; s < steps; s++)
        {
            double error = Math.Abs(device!.Losses[s] - reference!.Losses[s]) / Math.Abs(reference.Losses[s]);
            yield return new SelfTestCheck($"training{label} step {s + 1} loss {device.Losses[s]:F6} ({referenceName} {reference.Losses[s]:F6})", error, tolerance);
        }
        // Gradients: each tensor relative to its own largest reference value; tensors whose gradient is zero up to
        // rounding (the attention key bias) are measured against a share of the largest gradient overall instead:
        // 1e-3 of it, or 1e-2 between bf16 and fp32, where the rounding noise is about 2^-8 of the signals it comes from,
        // and with the fused attention, whose backward takes delta = dO . o where the recomputed probabilities would give
        // sum p dp (FlashAttention's trade): the key bias's zero carries four times the noise (9e-8 of the largest
        // gradient on tiny, against 2e-8 unfused), which at 1e-3 already used 0.9 of the tolerance on the emulator.
        double largest = reference!.Gradients.Values.Max(g => g.Max(Math.Abs));
        var (worstName, worstError) = ("", 0.0);
        foreach (var (name, expected) in reference.Gradients)
        {
            double own = expected.Max(Math.Abs);
            double error = RelativeError(device!.Gradients[name], expected, Math.Max(own, floor * largest));
            if (error >= worstError) (worstName, worstError) = (name, error);
        }
        yield return new SelfTestCheck($"step 1 gradients{label} of {reference.Gradients.Count} parameters (worst: {worstName})", worstError, tolerance);
        foreach (var (name, expected) in reference.Checksums)
        {
            double actual = device!.Checksums[name];
            yield return new SelfTestCheck($"after {steps} steps{label}: sum|{name}| = {actual:F6}", Math.Abs(actual - expected) / Math.Abs(expected), tolerance);
        }
    }

    private sealed record TrainingRun(List<double> Losses, Dictionary<string, double[]> Gradients, Dictionary<string, double> Checksums);

    private TrainingRun Train(IBackend backend, DualEncoderConfig config, int batch, int context, int steps, bool bf16, bool fusedAttention)
    {
        var model = new DualEncoder(new Init(backend, _dtype, 7), config);
        if (bf16) Bf16Weights.Attach(model);
        var parameters = model.NamedParameters().ToArray();
        var optimizer = new AdamW(WeightDecayPolicy.Groups(model), weightDecay: 0.1);
        var data = new Random(11);
        int image = config.Vision.ImageSize;
        var pixels = Upload(backend, [batch, config.Vision.Channels, image, image],
            Enumerable.Range(0, batch * config.Vision.Channels * image * image).Select(_ => data.NextDouble() * 2 - 1).ToArray());
        var ids = Tensor.FromArray(backend, [batch, context], Enumerable.Range(0, batch * context).Select(_ => data.Next(config.Text.VocabSize)).ToArray());
        // Sequence b keeps its first context - b tokens (at least 2): padding in every sequence but the first.
        var mask = Tensor.FromArray(backend, [batch, context],
            Enumerable.Range(0, batch * context).Select(i => i % context < Math.Max(2, context - i / context) ? 1 : 0).ToArray());

        var run = new TrainingRun([], [], []);
        for (int step = 0; step < steps; step++)
        {
            Tensor loss;
            using (Autocast.Bf16(bf16))
            using (FusedAttention.Enable(fusedAttention))
                loss = model.Loss(pixels, ids, mask);
            run.Losses.Add(loss.Item());
            loss.Backward();
            if (step == 0)
            {
                foreach (var (name, p) in parameters)
                    run.Gradients[name] = p.Grad is null ? new double[p.Length] : Download(p.Grad);
            }
            optimizer.Update(1e-3);
        }
        foreach (var (name, p) in parameters.Where(p => p.Name is "logit_scale" or "visual_projection.weight" or "text_projection.weight"
                     || p.Name.EndsWith("embeddings.word_embeddings.weight") || p.Name.EndsWith("embeddings.token_embedding.weight") || p.Name.EndsWith("patch_embeddings.projection.weight")
                     || p.Name.EndsWith("layer.0.intermediate.dense.weight")))
            run.Checksums[name] = Download(p).Sum(Math.Abs);
        return run;
    }

    // ---- op checks -----------------------------------------------------------------------------------------------------

    /// <summary>An operand on both backends with the same values.</summary>
    private readonly record struct Pair(Tensor Reference, Tensor Device);

    private SelfTestCheck Run(string name, Func<double> check, double? tolerance = null)
    {
        double limit = tolerance ?? Tolerance;
        try
        {
            return new SelfTestCheck(name, check(), limit);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestCheck(name, double.NaN, limit, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Runs <paramref name="op"/> on both backends and returns the worst error over the outputs.</summary>
    private static double Op(Pair[] operands, int[] outputs, Action<IBackend, Tensor[]> op)
    {
        op(operands[0].Reference.Backend, operands.Select(p => p.Reference).ToArray());
        op(operands[0].Device.Backend, operands.Select(p => p.Device).ToArray());
        return outputs.Max(i => operands[i].Device.DType == DType.BF16
            ? Bf16RelativeError(Download(operands[i].Device), Download(operands[i].Reference))
            : RelativeError(Download(operands[i].Device), Download(operands[i].Reference)));
    }

    /// <summary>
    /// <see cref="RelativeError"/> for a BF16 output. Where the two backends' F32 values behind an element lie within
    /// their summation noise of a rounding boundary, the two roundings differ by one unit (up to 2^-7 of the value), so
    /// up to one element in a hundred may differ by exactly one unit and count as equal; more of them (a wrong rounding
    /// mode, say) or larger differences count in full.
    /// </summary>
    public static double Bf16RelativeError(double[] actual, double[] expected)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        var forgiven = (double[])actual.Clone();
        int flips = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (actual[i] == expected[i] || !double.IsFinite(expected[i]) || expected[i] == 0) continue;
            double unit = Math.ScaleB(1.0, Math.ILogB(expected[i]) - 7);
            if (Math.Abs(actual[i] - expected[i]) <= unit)
            {
                flips++;
                forgiven[i] = expected[i];
            }
        }
        return RelativeError(flips <= Math.Max(1, actual.Length / 100) ? forgiven : actual, expected);
    }

    public static double RelativeError(double[] actual, double[] expected, double? scale = null)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        double worst = 0, largest = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            // Equal values (equal infinities too, such as the log-sum-exp of a fully padded row) are no error; an
            // infinity does not set the scale.
            if (double.IsFinite(expected[i])) largest = Math.Max(largest, Math.Abs(expected[i]));
            if (actual[i] == expected[i]) continue;
            double d = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(d)) d = double.IsNaN(actual[i]) && double.IsNaN(expected[i]) ? 0 : double.PositiveInfinity;
            worst = Math.Max(worst, d);
        }
        double denominator = scale ?? largest;
        return worst == 0 ? 0 : denominator == 0 ? double.PositiveInfinity : worst / denominator;
    }

    private Pair R(int n, double scale = 1, double offset = 0)
    {
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = offset + scale * (_random.NextDouble() * 2 - 1);
        return Both(values);
    }

    private Pair Constant(double value) => Both([value]);

    private Pair Both(double[] values) => new(Upload(_reference, [values.Length], values), Upload(_device, [values.Length], values));

    private Pair Ints(int n, int below)
    {
        var values = Enumerable.Range(0, n).Select(_ => _random.Next(below)).ToArray();
        return new(Tensor.FromArray(_reference, [n], values), Tensor.FromArray(_device, [n], values));
    }

    // Rows of non-negative values summing to 1 (softmax outputs).
    private Pair Probabilities(int rows, int cols)
    {
        var values = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += values[r * cols + c] = _random.NextDouble();
            for (int c = 0; c < cols; c++) values[r * cols + c] /= sum;
        }
        return Both(values);
    }

    private Tensor Upload(IBackend backend, Shape shape, double[] values) => _dtype == DType.F64
        ? Tensor.FromArray(backend, shape, values)
        : Tensor.FromArray(backend, shape, Array.ConvertAll(values, v => (float)v));

    private static double[] Download(Tensor t) => t.DType switch
    {
        DType.F32 => Array.ConvertAll(t.ToArray<float>(), v => (double)v),
        DType.F64 => t.ToArray<double>(),
        DType.BF16 => Array.ConvertAll(t.ToArray<ushort>(), v => (double)BFloat16.ToSingle(v)),
        _ => Array.ConvertAll(t.ToArray<int>(), v => (double)v),
    };

    private double Fill()
    {
        double worst = 0;
        foreach (var dtype in new[] { DType.F32, DType.F64, DType.BF16, DType.I32 })
        {
            var a = Tensor.Zeros(_reference, [37], dtype);
            var b = Tensor.Zeros(_device, [37], dtype);
            _reference.Fill(a, -3.25);
            _device.Fill(b, -3.25);
            worst = Math.Max(worst, RelativeError(Download(b), Download(a)));
        }
        return worst;
    }

    private double Casts()
    {
        double worst = 0;
        DType[] types = [DType.F32, DType.F64, DType.BF16];
        var values = Enumerable.Range(0, 130).Select(_ => (_random.NextDouble() * 2 - 1) * 1e3).Append(double.NaN).ToArray();
        foreach (var from in types)
        {
            foreach (var to in types)
            {
                var source = (Reference: Tensor.Zeros(_reference, [values.Length], DType.F64), Device: Tensor.Zeros(_device, [values.Length], DType.F64));
                _reference.CopyFromHost<double>(values, source.Reference.Storage);
                _device.CopyFromHost<double>(values, source.Device.Storage);
                var middle = (Reference: Tensor.Zeros(_reference, [values.Length], from), Device: Tensor.Zeros(_device, [values.Length], from));
                _reference.Cast(source.Reference, middle.Reference);
                _device.Cast(source.Device, middle.Device);
                var result = (Reference: Tensor.Zeros(_reference, [values.Length], to), Device: Tensor.Zeros(_device, [values.Length], to));
                _reference.Cast(middle.Reference, result.Reference);
                _device.Cast(middle.Device, result.Device);
                worst = Math.Max(worst, RelativeError(Download(result.Device), Download(result.Reference)));
            }
        }
        return worst;
    }

    private double CopyBlocks(bool accumulate)
    {
        // 5 runs of 33 from a [5, 41] source at offset 3 into a [6, 40] destination at offset 7; += with a broadcast source.
        var source = R(5 * 41);
        var destination = R(6 * 40);
        return Op([source, destination], [1], (b, t) => b.CopyBlocks(t[0], 3, accumulate ? 0 : 41, t[1], 7, 40, 33, 5, accumulate));
    }

    private double Gemm(GemmShape s, bool nanInC)
    {
        int aLength = s.M * s.K + (s.Batch - 1) * (int)s.StrideA, bLength = s.K * s.N + (s.Batch - 1) * (int)s.StrideB;
        int cLength = s.M * s.N + (s.Batch - 1) * (int)s.StrideC;
        var c = nanInC ? Both(Enumerable.Repeat(double.NaN, cLength).ToArray()) : R(cLength);
        return Op([R(aLength), R(bLength), c], [2], (b, t) => b.Gemm(t[0], t[1], t[2], s));
    }

    private double Bf16Gemm(DType output, int m, int n, int k)
    {
        var s = output == DType.F32 ? new GemmShape(false, true, m, n, k) : new GemmShape(false, false, m, n, k);
        var a = R(m * k);
        var b = R(k * n);
        Tensor ToBf16(Tensor x)
        {
            var y = Tensor.Zeros(_device, x.Shape, DType.BF16);
            _device.Cast(x, y);
            return y;
        }
        Tensor Rounded(Tensor x)
        {
            var y = Tensor.Zeros(_reference, x.Shape, DType.F32);
            _reference.Cast(x, y);
            var bits = Tensor.Zeros(_reference, x.Shape, DType.BF16);
            _reference.Cast(y, bits);
            _reference.Cast(bits, y);
            return y;
        }
        var expected = Tensor.Zeros(_reference, [m * n], DType.F32);
        _reference.Gemm(Rounded(a.Reference), Rounded(b.Reference), expected, s);
        var actual = Tensor.Zeros(_device, [m * n], output);
        _device.Gemm(ToBf16(a.Device), ToBf16(b.Device), actual, s);
        return RelativeError(Download(actual), Download(expected));
    }

    // Ops.Linear (or Ops.LinearActivation) on both backends under autocast: y, and dx, dW, db from a random dy (each
    // gradient starts random: +=).
    private double AutocastLinear(int rows, int inFeatures, int outFeatures, Activation? activation)
    {
        var x = R(rows * inFeatures);
        var w = R(outFeatures * inFeatures);
        var bias = R(outFeatures);
        var dy = R(rows * outFeatures);
        var grads = new[] { R(rows * inFeatures), R(outFeatures * inFeatures), R(outFeatures) };
        Tensor[] Side(Func<Pair, Tensor> pick)
        {
            Tensor Leaf(Pair p, Shape shape, Pair grad)
            {
                var t = pick(p).View(shape);
                t.RequiresGrad = true;
                t.Grad = pick(grad).View(shape);
                return t;
            }
            var tx = Leaf(x, [rows, inFeatures], grads[0]);
            var tw = Leaf(w, [outFeatures, inFeatures], grads[1]);
            var tb = Leaf(bias, [outFeatures], grads[2]);
            Tensor y;
            using (Autocast.Bf16()) y = activation is { } kind ? Ops.LinearActivation(tx, tw, tb, kind) : Ops.Linear(tx, tw, tb);
            y.Backward(pick(dy).View([rows, outFeatures]));
            return [y, tx.Grad!, tw.Grad!, tb.Grad!];
        }
        var expected = Side(p => p.Reference);
        var actual = Side(p => p.Device);
        return Enumerable.Range(0, 4).Max(i => RelativeError(Download(actual[i]), Download(expected[i])));
    }

    // Ops.Mlp on both backends under autocast: y, and the gradients of x and both layers' weights and biases from a random
    // dy (each gradient starts random: +=).
    private double AutocastMlp(int rows, int width, int hidden, Activation kind)
    {
        var inputs = new[] { R(rows * width), R(hidden * width), R(hidden), R(width * hidden), R(width) };
        Shape[] shapes = [[rows, width], [hidden, width], [hidden], [width, hidden], [width]];
        var grads = shapes.Select(s => R((int)s.Elements)).ToArray();
        var dy = R(rows * width);
        Tensor[] Side(Func<Pair, Tensor> pick)
        {
            var leaves = inputs.Select((p, i) =>
            {
                var t = pick(p).View(shapes[i]);
                t.RequiresGrad = true;
                t.Grad = pick(grads[i]).View(shapes[i]);
                return t;
            }).ToArray();
            Tensor y;
            using (Autocast.Bf16()) y = Ops.Mlp(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], kind);
            y.Backward(pick(dy).View([rows, width]));
            return [y, .. leaves.Select(t => t.Grad!)];
        }
        var expected = Side(p => p.Reference);
        var actual = Side(p => p.Device);
        return Enumerable.Range(0, expected.Length).Max(i => RelativeError(Download(actual[i]), Download(expected[i])));
    }

    // Ops.MatMul (scores = q k^T per batch) on both backends under autocast, forward and both input gradients.
    private double AutocastMatMul()
    {
        const int batch = 3, queries = 7, keys = 9, dim = 33;
        var q = R(batch * queries * dim);
        var k = R(batch * keys * dim);
        var dy = R(batch * queries * keys);
        Tensor[] Side(Func<Pair, Tensor> pick)
        {
            var tq = pick(q).View([batch, queries, dim]);
            var tk = pick(k).View([batch, keys, dim]);
            tq.RequiresGrad = tk.RequiresGrad = true;
            Tensor y;
            using (Autocast.Bf16()) y = Ops.MatMul(tq, tk, transB: true);
            y.Backward(pick(dy).View([batch, queries, keys]));
            return [y, tq.Grad!, tk.Grad!];
        }
        var expected = Side(p => p.Reference);
        var actual = Side(p => p.Device);
        return Enumerable.Range(0, 3).Max(i => RelativeError(Download(actual[i]), Download(expected[i])));
    }

    // Two multi-tensor steps over tensors of 769, 33, 1, 0 and 9000 elements (the last spans three of the CUDA kernel's
    // 4096-value chunks; the first and last have BF16 copies in F32),
    // each with its own learning rate and decay; compared with the same tensors updated one by one, either on the
    // reference or (bit for bit) on the device itself. Returns the worst error over p, m, v and the copies.
    private double AdamWMultiTensor(bool againstReference)
    {
        int[] lengths = [769, 33, 1, 0, 9000];
        var other = againstReference ? _reference : _device;
        var state = lengths.Select(n => (P: R(n), M: R(n, 0.1), V: R(n, 0.01, 0.01))).ToArray();
        // The one-by-one side gets its own copies of the device's starting values when it runs on the device too.
        Tensor Start(Tensor deviceTensor) => Upload(other, [(int)deviceTensor.Length], Download(deviceTensor));
        var single = state.Select(s => (P: againstReference ? s.P.Reference : Start(s.P.Device), M: againstReference ? s.M.Reference : Start(s.M.Device),
            V: againstReference ? s.V.Reference : Start(s.V.Device))).ToArray();
        Tensor? Copy(IBackend backend, int i) => _dtype == DType.F32 && (i == 0 || i == 4) ? Tensor.Zeros(backend, [lengths[i]], DType.BF16) : null;
        var fusedCopies = lengths.Select((_, i) => Copy(_device, i)).ToArray();
        var singleCopies = lengths.Select((_, i) => Copy(other, i)).ToArray();
        double worst = 0;
        for (int step = 1; step <= 2; step++)
        {
            var fused = new AdamWTensor[lengths.Length];
            for (int i = 0; i < lengths.Length; i++)
            {
                var g = R(lengths[i]);
                var hyper = new AdamWStep(1e-3 * (i + 1), 0.9, 0.999, 1e-8, i % 2 == 0 ? 0.1 : 0, 1 - Math.Pow(0.9, step), 1 - Math.Pow(0.999, step));
                fused[i] = new AdamWTensor(state[i].P.Device, g.Device, state[i].M.Device, state[i].V.Device, fusedCopies[i], hyper);
                var gOther = againstReference ? g.Reference : Start(g.Device);
                other.AdamW(single[i].P, gOther, single[i].M, single[i].V, hyper, singleCopies[i]);
            }
            _device.AdamWMultiTensor(fused);
        }
        for (int i = 0; i < lengths.Length; i++)
        {
            worst = Math.Max(worst, RelativeError(Download(state[i].P.Device), Download(single[i].P)));
            worst = Math.Max(worst, RelativeError(Download(state[i].M.Device), Download(single[i].M)));
            worst = Math.Max(worst, RelativeError(Download(state[i].V.Device), Download(single[i].V)));
            if (fusedCopies[i] is { } copy)
            {
                // Against the reference a one-ulp difference in p may round to a neighbouring bf16; check the copy
                // against the device's own p instead, and against the one-by-one copy when both ran on the device.
                var rounded = Array.ConvertAll(Download(state[i].P.Device), x => (double)BFloat16.Round((float)x));
                worst = Math.Max(worst, RelativeError(Download(copy), againstReference ? rounded : Download(singleCopies[i]!)));
            }
        }
        return worst;
    }

    // AdamW with the BF16 copy: p, m, v against the reference, and the device's copy equal to its own p rounded.
    private double AdamWBf16Copy()
    {
        var p = R(769);
        var m = R(769, 0.1);
        var v = R(769, 0.01, 0.01);
        var copy = (Reference: Tensor.Zeros(_reference, [769], DType.BF16), Device: Tensor.Zeros(_device, [769], DType.BF16));
        double worst = 0;
        for (int step = 1; step <= 2; step++)
        {
            var g = R(769);
            var hyper = new AdamWStep(1e-3, 0.9, 0.999, 1e-8, 0.1, 1 - Math.Pow(0.9, step), 1 - Math.Pow(0.999, step));
            // The copy goes with the side by tensor, not by backend (the two may be one backend).
            worst = Math.Max(worst, Op([p, g, m, v], [0, 2, 3], (b, t) => b.AdamW(t[0], t[1], t[2], t[3], hyper,
                ReferenceEquals(t[0], p.Reference) ? copy.Reference : copy.Device)));
            var rounded = Array.ConvertAll(Download(p.Device), x => (double)BFloat16.Round((float)x));
            worst = Math.Max(worst, RelativeError(Download(copy.Device), rounded));
        }
        return worst;
    }

    private double LayerNormBackward(int rows, int cols)
    {
        // mean and rstd come from a reference forward so the backward sees consistent statistics.
        var x = R(rows * cols, 2, 0.5);
        var gamma = R(cols);
        var mean = Tensor.Zeros(_reference, [rows], _dtype);
        var rstd = Tensor.Zeros(_reference, [rows], _dtype);
        _reference.LayerNormForward(x.Reference, gamma.Reference, R(cols).Reference, Tensor.Zeros(_reference, [rows * cols], _dtype), mean, rstd, rows, cols, 1e-5);
        var meanPair = Both(Download(mean));
        var rstdPair = Both(Download(rstd));
        return Op([R(rows * cols), x, gamma, meanPair, rstdPair, R(rows * cols), R(cols), R(cols)], [5, 6, 7],
            (b, t) => b.LayerNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], rows, cols));
    }

    private double AddLayerNormForward(int rows, int cols, bool keepSum)
    {
        int n = rows * cols;
        return Op([R(n, 2, 0.5), R(n), R(n), R(cols), R(cols), R(n), R(rows), R(rows)], keepSum ? [2, 5, 6, 7] : [5, 6, 7],
            (b, t) => b.AddLayerNormForward(t[0], t[1], keepSum ? t[2] : null, t[3], t[4], t[5], t[6], t[7], rows, cols, 1e-5));
    }

    private double AddLayerNormBackward(int rows, int cols, bool bothGradients)
    {
        // mean and rstd come from a reference forward so the backward sees consistent statistics.
        int n = rows * cols;
        var a = R(n, 2, 0.5);
        var b = R(n);
        var gamma = R(cols);
        var mean = Tensor.Zeros(_reference, [rows], _dtype);
        var rstd = Tensor.Zeros(_reference, [rows], _dtype);
        _reference.AddLayerNormForward(a.Reference, b.Reference, null, gamma.Reference, R(cols).Reference, Tensor.Zeros(_reference, [n], _dtype), mean,
            rstd, rows, cols, 1e-5);
        return Op([R(n), a, b, gamma, Both(Download(mean)), Both(Download(rstd)), R(n), R(n), R(cols), R(cols)], [6, 7, 8, 9],
            (be, t) => be.AddLayerNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], bothGradients ? t[7] : null, t[8], t[9], rows, cols));
    }

    private double Softmax(bool masked, bool causal = false)
    {
        const int batch = 3, heads = 5, keys = 13;
        int queries = causal ? keys : 7;
        int n = batch * heads * queries * keys;
        return Op([R(n, 3), R(n), KeyMask(batch, keys)], [1],
            (b, t) => b.SoftmaxForward(t[0], masked ? t[2] : null, t[1], batch, heads, queries, keys, 0.41, causal));
    }

    /// <summary>
    /// An I32 key mask [batch, keys]: sequence 0 unpadded, sequence 1 with its last third padded, and (from batch 3 on)
    /// sequence 2 with every key padded, whose rows must come out as zeros; later sequences unpadded.
    /// </summary>
    private Pair KeyMask(int batch, int keys)
    {
        int[] mask = new int[batch * keys];
        for (int b = 0; b < batch; b++)
        {
            for (int k = 0; k < keys; k++) mask[b * keys + k] = b == 1 ? (k < keys - keys / 3 ? 1 : 0) : b == 2 ? 0 : 1;
        }
        return new Pair(Tensor.FromArray(_reference, [batch, keys], mask), Tensor.FromArray(_device, [batch, keys], mask));
    }

    // A BF16 operand of n zeros on both backends (an output to be written).
    private Pair Bf16Zeros(int n) => new(Tensor.Zeros(_reference, [n], DType.BF16), Tensor.Zeros(_device, [n], DType.BF16));

    // bf16 mixed precision's BF16 layer-norm outputs (norms that only feed GEMMs): plain, and fused with the kept sum.
    private double LayerNormBf16Output()
    {
        const int rows = 7, cols = 132, n = rows * cols;
        var (x, b, gamma, beta) = (R(n, 2, 0.5), R(n), R(cols), R(cols));
        double plain = Op([x, gamma, beta, Bf16Zeros(n), R(rows), R(rows)], [3, 4, 5],
            (be, t) => be.LayerNormForward(t[0], t[1], t[2], t[3], t[4], t[5], rows, cols, 1e-5));
        double fused = Op([x, b, R(n), gamma, beta, Bf16Zeros(n), R(rows), R(rows)], [2, 5, 6, 7],
            (be, t) => be.AddLayerNormForward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], rows, cols, 1e-5));
        return Math.Max(plain, fused);
    }

    /// <summary>
    /// Fused attention with bf16 mixed precision's BF16 output: the forward's o and lse, then the backward (which reads o
    /// back) from each side's own forward.
    /// </summary>
    private double AttentionBf16Output(AttentionShape s, bool[] inputKinds)
    {
        int n = (int)s.Elements;
        Pair Rounded(Pair p)
        {
            var r = Bf16Zeros(n);
            _reference.Cast(p.Reference, r.Reference);
            _device.Cast(p.Device, r.Device);
            return r;
        }
        double worst = 0;
        foreach (bool bf16Inputs in inputKinds)
        {
            var (q, k, v, mask, lse, o) = (R(n, 2), R(n, 2), R(n), KeyMask(s.Batch, s.Tokens), R((int)s.Rows), Bf16Zeros(n));
            if (bf16Inputs) (q, k, v) = (Rounded(q), Rounded(k), Rounded(v));
            worst = Math.Max(worst, Op([q, k, v, mask, o, lse], [4, 5], (b, t) => b.AttentionForward(t[0], t[1], t[2], t[3], t[4], t[5], s)));
            worst = Math.Max(worst, Op([q, k, v, mask, o, lse, R(n), R(n), R(n), R(n)], [7, 8, 9],
                (b, t) => b.AttentionBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], s)));
        }
        return worst;
    }

    /// <summary>
    /// Fused attention forward (o and lse from noise-filled outputs) or backward (from the reference forward's o and lse,
    /// into random gradients: +=), with or without the padding of <see cref="KeyMask"/>.
    /// </summary>
    private double Attention(AttentionShape s, bool masked, bool backward)
    {
        int n = (int)s.Elements, rows = (int)s.Rows;
        var (q, k, v, mask) = (R(n, 2), R(n, 2), R(n), KeyMask(s.Batch, s.Tokens));
        if (!backward)
            return Op([q, k, v, mask, R(n), R(rows)], [4, 5], (b, t) => b.AttentionForward(t[0], t[1], t[2], masked ? t[3] : null, t[4], t[5], s));
        var o = Tensor.Zeros(_reference, [n], _dtype);
        var lse = Tensor.Zeros(_reference, [rows], _dtype);
        _reference.AttentionForward(q.Reference, k.Reference, v.Reference, masked ? mask.Reference : null, o, lse, s);
        return Op([q, k, v, mask, Both(Download(o)), Both(Download(lse)), R(n), R(n), R(n), R(n)], [7, 8, 9],
            (b, t) => b.AttentionBackward(t[0], t[1], t[2], masked ? t[3] : null, t[4], t[5], t[6], t[7], t[8], t[9], s));
    }

    private double L2NormalizeBackward()
    {
        var x = R(7 * 130);
        var y = Tensor.Zeros(_reference, [7 * 130], _dtype);
        var norms = Tensor.Zeros(_reference, [7], _dtype);
        _reference.L2NormalizeForward(x.Reference, y, norms, 7, 130);
        return Op([Both(Download(y)), R(7 * 130), Both(Download(norms)), R(7 * 130)], [3],
            (b, t) => b.L2NormalizeBackward(t[0], t[1], t[2], t[3], 7, 130));
    }

    private double AdamW()
    {
        var p = R(769);
        var m = R(769, 0.1);
        var v = R(769, 0.01, 0.01);
        double worst = 0;
        for (int step = 1; step <= 2; step++)
        {
            var g = R(769);
            var hyper = new AdamWStep(1e-3, 0.9, 0.999, 1e-8, 0.1, 1 - Math.Pow(0.9, step), 1 - Math.Pow(0.999, step));
            worst = Math.Max(worst, Op([p, g, m, v], [0, 2, 3], (b, t) => b.AdamW(t[0], t[1], t[2], t[3], hyper)));
        }
        return worst;
    }
}
