using MedClip.Autograd;
using MedClip.Backends.Cpu;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Benchmarks;

/// <summary>
/// <c>MedClip.Benchmarks saved-memory [PRESET] [BATCH]</c> (default base, 4): the memory a forward pass leaves alive for
/// its backward, measured on the CPU backend, whose tensors are managed arrays: GC.GetTotalMemory(true) with the loss
/// (and so the tape) alive, minus the same before the forward. The tape keeps the same tensors on every backend, so this
/// is what a device's activations take too, up to allocator rounding. One line per precision and attention; the
/// batch is random pixels and full-context random token ids, as `bench` uses.
/// </summary>
public static class SavedActivationMemory
{
    public static int Run(string[] args)
    {
        string presetName = args.Length > 0 ? args[0] : "base";
        int batch = args.Length > 1 ? int.Parse(args[1]) : 4;
        var preset = ModelPresets.Get(presetName);
        var config = preset.Config;
        var backend = CpuBackend.Instance;
        var pixels = new Init(backend, DType.F32, 1).Normal([batch, config.Vision.Channels, config.Vision.ImageSize, config.Vision.ImageSize], 1);
        var random = new Random(2);
        int tokens = batch * preset.ContextLength;
        var ids = Tensor.FromArray(backend, [batch, preset.ContextLength], Enumerable.Range(0, tokens).Select(_ => random.Next(config.Text.VocabSize)).ToArray());
        var mask = Tensor.FromArray(backend, [batch, preset.ContextLength], Enumerable.Repeat(1, tokens).ToArray());
        Console.WriteLine($"Saved for the backward pass: {presetName}, batch {batch}, CPU backend (GC.GetTotalMemory after the forward minus before)");
        foreach (bool bf16 in new[] { false, true })
        {
            foreach (bool fused in new[] { false, true })
            {
                // A model per policy, built before the measurement starts: its parameters and BF16 weight copies are not counted.
                var model = new DualEncoder(new Init(backend, DType.F32, 0, new ComputePolicy(bf16 ? Precision.Bf16 : Precision.Fp32,
                    fused ? AttentionKind.Fused : AttentionKind.Gemm)), config);
                Bf16Weights.Attach(model);
                var (bytes, loss) = Measure(model, pixels, ids, mask);
                Console.WriteLine($"  {(bf16 ? "bf16" : "fp32")}  {(fused ? "fused" : "gemm ")} attention  {bytes / 1048576.0,9:F1} MiB  (loss {loss:F6})");
            }
        }
        return 0;
    }

    // In its own frame, so that the graph is unreachable once it returns and the next measurement starts clean.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (long Bytes, double Loss) Measure(DualEncoder model, Tensor pixels, Tensor ids, Tensor mask)
    {
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var loss = model.Loss(pixels, ids, mask);
        long after = GC.GetTotalMemory(forceFullCollection: true);
        double value = loss.Item();
        GC.KeepAlive(loss);
        return (after - before, value);
    }
}
