using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Diagnostics;

/// <summary>The training checks: a few AdamW steps of a small dual encoder on both backends.</summary>
public sealed partial class BackendSelfTest
{
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
    /// <param name="compute">
    /// Both runs' policy (fp32 with GEMM attention when null). Under bf16 (the fused InfoNCE loss, the CPU emulating the
    /// precision) they are compared at <see cref="Bf16TrainingTolerance"/> unless a tolerance is given; with fused attention
    /// both run the attention kernels of <see cref="IBackend.AttentionForward"/>.
    /// </param>
    public IEnumerable<SelfTestCheck> TrainingChecks(DualEncoderConfig config, int batch, int context, int steps = 2, double? tolerance = null,
        ComputePolicy? compute = null)
    {
        compute ??= ComputePolicy.Default;
        bool bf16 = compute.Precision == Precision.Bf16, fusedAttention = compute.Attention == AttentionKind.Fused;
        // An iterator, so that the runs start when the checks are enumerated (after the op checks have printed).
        var (first, second) = (TrainOrFail(_reference, config, batch, context, steps, compute), TrainOrFail(_device, config, batch, context, steps, compute));
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
        var (fp32, bf16) = (TrainOrFail(_device, config, batch, context, steps, ComputePolicy.Default),
            TrainOrFail(_device, config, batch, context, steps, new ComputePolicy(Precision.Bf16)));
        foreach (var check in Compare(fp32, bf16, steps, Bf16VersusFp32Tolerance, " bf16 against fp32", "fp32", floor: 1e-2))
            yield return check;
    }

    private (TrainingTrace? Run, string? Failure) TrainOrFail(IBackend backend, DualEncoderConfig config, int batch, int context, int steps,
        ComputePolicy compute)
    {
        try
        {
            return (Train(backend, config, batch, context, steps, compute), null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (null, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static IEnumerable<SelfTestCheck> Compare((TrainingTrace? Run, string? Failure) first, (TrainingTrace? Run, string? Failure) second,
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

    // What one backend's training produced: each step's loss, the first step's gradients, parameter checksums at the end.
    private sealed record TrainingTrace(List<double> Losses, Dictionary<string, double[]> Gradients, Dictionary<string, double> Checksums);

    private TrainingTrace Train(IBackend backend, DualEncoderConfig config, int batch, int context, int steps, ComputePolicy compute)
    {
        var model = new DualEncoder(new Init(backend, _dtype, 7, compute), config);
        if (compute.Precision == Precision.Bf16) Bf16Weights.Attach(model);
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

        var run = new TrainingTrace([], [], []);
        for (int step = 0; step < steps; step++)
        {
            using var stepMemory = backend.OpenScope();
            var loss = model.Loss(pixels, ids, mask);
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
}
