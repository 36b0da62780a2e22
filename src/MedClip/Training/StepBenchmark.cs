using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Backends.Cuda;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Training;

/// <summary>
/// Times full training steps of a preset on random data: forward, symmetric InfoNCE, backward, global-norm clipping
/// at 1.0 and an AdamW update (decay as the trainer's <see cref="WeightDecayPolicy"/>). Pixels are standard normal [B, 3, S, S]; texts are full-context random token ids with
/// an all-ones attention mask. Warm-up steps are excluded and each figure is the median over the timed steps. A GPU runs
/// behind the host, so each timed step ends by waiting for the device, and the forward/backward/update split is measured
/// only when asked for (<c>phaseTimes</c>), by waiting between the phases too, which makes the steps a little slower.
/// tools/reference/torch_clip_bench.py times the same step in PyTorch.
/// </summary>
public static class StepBenchmark
{
    public const int DefaultSteps = 10;
    public const int DefaultWarmupSteps = 2;
    private const double LearningRate = 1e-4;
    private const double MaxGradNorm = 1.0;

    /// <summary>
    /// Batch size when none is given: 32 for tiny (a CPU step of a few hundred milliseconds on two cores, with a
    /// 32 x 32 similarity matrix), 64 for small, 256 for base (a usual per-GPU contrastive batch).
    /// </summary>
    public static int DefaultBatchSize(string preset) => preset switch
    {
        "tiny" => 32,
        "small" => 64,
        _ => 256,
    };

    /// <param name="bf16">bf16 mixed precision: <see cref="Autocast"/> forward, BF16 weight copies written by AdamW, the fused InfoNCE loss.</param>
    /// <param name="fusedAttention">The fused attention kernels (<see cref="FusedAttention"/>) instead of GEMMs and softmax.</param>
    /// <param name="phaseTimes">Wait for the device after the forward and the backward too, to time each phase.</param>
    public static StepBenchmarkResult Run(IBackend backend, ModelPreset preset, int batchSize, int steps = DefaultSteps,
        int warmupSteps = DefaultWarmupSteps, int seed = 0, bool bf16 = false, bool fusedAttention = false, bool phaseTimes = false)
    {
        if (batchSize < 1 || steps < 1 || warmupSteps < 0)
            throw new ArgumentException($"StepBenchmark: batch size {batchSize} and steps {steps} must be positive and warm-up steps {warmupSteps} non-negative.");
        var config = preset.Config;
        if (fusedAttention) config.CheckFusedAttention(backend);
        var model = new DualEncoder(new Init(backend, DType.F32, seed), config);
        if (bf16) Bf16Weights.Attach(model);
        // Weight decay on 2-D weights only (linear layers, embedding tables); vectors, the logit scale and the rank-3/4
        // CLS token, ViT position table and patch kernel go undecayed. The PyTorch script uses the same rule.
        var optimizer = new AdamW(WeightDecayPolicy.Groups(model));
        var (pixels, ids, mask) = RandomBatch(backend, config, preset.ContextLength, batchSize, seed);

        var forward = new List<double>();
        var backward = new List<double>();
        var update = new List<double>();
        var total = new List<double>();
        long? reservedAfterWarmup = warmupSteps == 0 ? ReservedBytes(backend) : null;
        for (int step = 0; step < warmupSteps + steps; step++)
        {
            long start = Stopwatch.GetTimestamp();
            Tensor loss;
            using (Autocast.Bf16(bf16))
            using (FusedAttention.Enable(fusedAttention))
                loss = model.Loss(pixels, ids, mask);
            if (phaseTimes) WaitForDevice(backend);
            long afterForward = Stopwatch.GetTimestamp();
            loss.Backward();
            if (phaseTimes) WaitForDevice(backend);
            long afterBackward = Stopwatch.GetTimestamp();
            GradientClipping.ClipByGlobalNorm(model.Parameters(), MaxGradNorm);
            optimizer.Update(LearningRate);
            WaitForDevice(backend);
            long end = Stopwatch.GetTimestamp();
            if (step == warmupSteps - 1) reservedAfterWarmup = ReservedBytes(backend);
            if (step < warmupSteps) continue;
            forward.Add(Milliseconds(start, afterForward));
            backward.Add(Milliseconds(afterForward, afterBackward));
            update.Add(Milliseconds(afterBackward, end));
            total.Add(Milliseconds(start, end));
        }

        double stepMs = Median(total);
        double tflops = ModelFlops.TrainingStepFlops(config, batchSize, preset.ContextLength) / (stepMs * 1e-3) / 1e12;
        // F32 GEMMs on TF32 tensor cores when the CUDA backend allows it (bench --tf32), labelled so.
        string precision = bf16 ? "bf16" : backend is CudaBackend { AllowTf32: true } ? "tf32" : "fp32";
        long? reserved = ReservedBytes(backend);
        var (peak, peakSource) = Peak(backend, precision);
        return new StepBenchmarkResult(backend.Name, preset.Name, batchSize, precision, stepMs, batchSize / (stepMs * 1e-3),
            tflops, tflops / peak, model.Parameters().Sum(p => p.Length), Median(forward), Median(backward), Median(update), steps)
        {
            PhaseTimes = phaseTimes || backend is not CudaBackend,
            PeakTflops = peak,
            PeakSource = peakSource,
            Attention = fusedAttention ? "fused" : "gemm",
            CpuGemm = backend is CpuBackend cpu ? CpuGemmPaths.Name(cpu.GemmPath) : null,
            ReservedBytes = reserved,
            ReservedAfterWarmupBytes = reservedAfterWarmup,
        };
    }

    // The card's datasheet peak for the precision, or on a card the table does not list its measured GEMM ceiling (taken
    // after the reserved memory is read, since the arena keeps what the measurement allocates); none on the CPU or the
    // emulator, which is no device to time.
    private static (double? Peak, string? Source) Peak(IBackend backend, string precision)
    {
        if (backend is not CudaBackend gpu) return (null, null);
        if (DevicePeaks.PeakTflops(gpu.Device.Name, precision) is double datasheet) return (datasheet, "datasheet");
        if (gpu.Device.IsEmulator) return (null, null);
        var kind = precision switch { "bf16" => Ceiling.Bf16, "tf32" => Ceiling.Tf32, _ => Ceiling.Fp32 };
        return (DeviceCeilings.MeasureGemm(gpu, kind), "measured");
    }

    // The host enqueues GPU work and runs ahead; a time read before the device has caught up measures only the enqueuing.
    private static void WaitForDevice(IBackend backend)
    {
        if (backend is CudaBackend cuda) cuda.Synchronize();
    }

    // Device memory the CUDA arena holds (it never gives blocks back, so this is also its peak); null on the CPU.
    private static long? ReservedBytes(IBackend backend) => backend is CudaBackend cuda ? cuda.Arena.ReservedBytes : null;

    private static (Tensor Pixels, Tensor Ids, Tensor Mask) RandomBatch(IBackend backend, DualEncoderConfig config, int context,
        int batchSize, int seed)
    {
        var vision = config.Vision;
        var pixels = new Init(backend, DType.F32, seed + 1).Normal([batchSize, vision.Channels, vision.ImageSize, vision.ImageSize], 1.0);
        var random = new Random(seed + 2);
        var ids = Enumerable.Range(0, batchSize * context).Select(_ => random.Next(config.Text.VocabSize)).ToArray();
        return (pixels, Tensor.FromArray(backend, [batchSize, context], ids),
            Tensor.FromArray(backend, [batchSize, context], Enumerable.Repeat(1, batchSize * context).ToArray()));
    }

    private static double Milliseconds(long start, long end) => (end - start) * 1000.0 / Stopwatch.Frequency;

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}

/// <summary>
/// One benchmark outcome. Times are medians in milliseconds; Tflops is the achieved rate by <see cref="ModelFlops"/>'s
/// count; Mfu is null where the device's peak is unknown (the CPU, or a card <see cref="DevicePeaks"/> does not list).
/// </summary>
public sealed record StepBenchmarkResult(string Device, string Model, int BatchSize, string Precision, double StepMs,
    double ImagesPerSecond, double Tflops, double? Mfu, long Parameters, double ForwardMs, double BackwardMs,
    double UpdateMs, int Steps)
{
    /// <summary>
    /// The peak that <see cref="Mfu"/> divides by: the card's datasheet figure (<see cref="DevicePeaks"/>) or, for a card
    /// the table does not list, its measured GEMM ceiling (<see cref="DeviceCeilings"/>); null on the CPU and the emulator.
    /// </summary>
    public double? PeakTflops { get; init; }

    /// <summary>Where <see cref="PeakTflops"/> came from: "datasheet" or "measured".</summary>
    public string? PeakSource { get; init; }

    /// <summary>
    /// Whether <see cref="ForwardMs"/>, <see cref="BackwardMs"/> and <see cref="UpdateMs"/> mean anything: on the CPU
    /// always; on a GPU only when the benchmark waited for the device between the phases.
    /// </summary>
    public bool PhaseTimes { get; init; } = true;

    /// <summary>gemm or fused (see <see cref="FusedAttention"/>).</summary>
    public string Attention { get; init; } = "gemm";

    /// <summary>The CPU backend's GEMM path (<see cref="CpuGemmPath"/>: scalar, vector256 or vector512); null on a GPU.</summary>
    public string? CpuGemm { get; init; }

    /// <summary>
    /// Device memory reserved by the end (the CUDA arena's peak, comparable to torch.cuda.max_memory_reserved), in bytes;
    /// null on the CPU.
    /// </summary>
    public long? ReservedBytes { get; init; }

    /// <summary>The same after the warm-up steps: a larger <see cref="ReservedBytes"/> means memory grew across timed steps.</summary>
    public long? ReservedAfterWarmupBytes { get; init; }

    /// <summary>
    /// The contract's single JSON line: device, model, batch_size, precision, step_ms, images_per_s, tflops, mfu; then
    /// attention, phase_times (whether the phase split was timed) with forward_ms, backward_ms and update_ms when it was,
    /// on the CPU cpu_gemm (the GEMM's vector width), and on CUDA peak_tflops with peak_source (datasheet or measured), reserved_mib and reserved_after_warmup_mib.
    /// </summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("device", Device);
            json.WriteString("model", Model);
            json.WriteNumber("batch_size", BatchSize);
            json.WriteString("precision", Precision);
            json.WriteNumber("step_ms", Math.Round(StepMs, 2));
            json.WriteNumber("images_per_s", Math.Round(ImagesPerSecond, 1));
            json.WriteNumber("tflops", Math.Round(Tflops, 4));
            if (Mfu is double mfu) json.WriteNumber("mfu", Math.Round(mfu, 4));
            else json.WriteNull("mfu");
            json.WriteString("attention", Attention);
            json.WriteBoolean("phase_times", PhaseTimes);
            if (PhaseTimes)
            {
                json.WriteNumber("forward_ms", Math.Round(ForwardMs, 2));
                json.WriteNumber("backward_ms", Math.Round(BackwardMs, 2));
                json.WriteNumber("update_ms", Math.Round(UpdateMs, 2));
            }
            if (CpuGemm is string gemm) json.WriteString("cpu_gemm", gemm);
            if (PeakTflops is double peak) json.WriteNumber("peak_tflops", Math.Round(peak, 2));
            if (PeakSource is string source) json.WriteString("peak_source", source);
            if (ReservedBytes is long reserved) json.WriteNumber("reserved_mib", Math.Round(reserved / 1048576.0, 1));
            if (ReservedAfterWarmupBytes is long warm) json.WriteNumber("reserved_after_warmup_mib", Math.Round(warm / 1048576.0, 1));
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
