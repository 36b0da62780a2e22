using BenchmarkDotNet.Running;

namespace MedClip.Benchmarks;

/// <summary>
/// <c>MedClip.Benchmarks [BenchmarkDotNet options]</c>: the CPU benchmarks (GEMM, image pipeline).
/// <c>MedClip.Benchmarks cuda [BenchmarkDotNet options]</c>: the CUDA kernel benchmarks, in-process, only on a real
/// device (otherwise one line says why and the exit code is 0).
/// <c>MedClip.Benchmarks saved-memory [PRESET] [BATCH]</c>: the activation memory a forward pass keeps for its backward
/// (<see cref="SavedActivationMemory"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "cuda") return CudaKernelBenchmarkRunner.Run(args[1..]);
        if (args.Length > 0 && args[0] == "saved-memory") return SavedActivationMemory.Run(args[1..]);
        var cpu = typeof(Program).Assembly.GetTypes()
            .Where(t => t.IsPublic && !t.IsAbstract && !typeof(CudaKernelBenchmark).IsAssignableFrom(t) && t.GetMethods().Any(m => m.IsDefined(typeof(BenchmarkDotNet.Attributes.BenchmarkAttribute), false)))
            .ToArray();
        BenchmarkSwitcher.FromTypes(cpu).Run(args);
        return 0;
    }
}
