using System.Runtime.InteropServices;
using System.Text.Json;
using MedClip.Backends.Cuda;
using MedClip.Backends.Cuda.Native;
using MedClip.Tests.Distributed;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// A test that needs a real NVRTC (no GPU): libnvrtc.so.13, .12 or .11.2 on the loader path or in the CUDA folders.
/// .ci/run installs Debian's libnvrtc11.2, so there it runs; it is skipped, visibly, where no NVRTC is installed.
/// </summary>
public sealed class NvrtcFactAttribute : FactAttribute
{
    public NvrtcFactAttribute()
    {
        if (FindNvrtc() is null)
            Skip = "no NVRTC is installed (libnvrtc.so.13, .12 or .11.2): install the CUDA toolkit or Debian's libnvrtc11.2 (non-free), as .ci/run does.";
    }

    private static string? FindNvrtc()
    {
        string[] names = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"];
        foreach (var name in names)
        {
            if (NativeLibrary.TryLoad(name, out var handle))
            {
                NativeLibrary.Free(handle);
                return name;
            }
        }
        return CudaLibrarySearch.DefaultFolders().SelectMany(folder => names.Select(name => Path.Combine(folder, name))).FirstOrDefault(File.Exists);
    }
}

/// <summary>
/// The kernels as a real compiler sees them: `medclip-train kernels` runs NVRTC and ptxas on every kernel file (no GPU
/// needed), so inline PTX, architecture guards and register pressure are checked on machines the emulator's g++ cannot
/// speak for.
/// </summary>
public sealed class KernelCompileTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(10);

    // The largest block the backend launches (CudaBackend.Threads); a kernel whose registers do not fit 256 threads would
    // fail its launch with CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES.
    private const int LargestBlock = 256;

    private const string PtxasLog = """
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function 'attention_backward_dkdv_f32_d64' for 'sm_90'
        ptxas info    : Function properties for attention_backward_dkdv_f32_d64
        ptxas         .     448 bytes stack frame, 448 bytes spill stores, 452 bytes spill loads
        ptxas info    : Used 255 registers, 41856 bytes smem, 436 bytes cmem[0]
        ptxas info    : Compiling entry function 'softmax_forward_f32' for 'sm_90'
        ptxas info    : Function properties for softmax_forward_f32
        ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 29 registers
        """;

    [Fact]
    public void Parse_ReadsEachKernelsPtxasReport()
    {
        var kernels = KernelResources.Parse("x.cu", PtxasLog);

        Assert.Equal(2, kernels.Count);
        Assert.Equal(new KernelResources("x.cu", "attention_backward_dkdv_f32_d64", "sm_90", 255, 448, 452, 448, 41856), kernels[0]);
        Assert.Equal(new KernelResources("x.cu", "softmax_forward_f32", "sm_90", 29, 0, 0, 0, 0), kernels[1]);
        Assert.True(kernels[0].Spills);
        Assert.False(kernels[1].Spills);
    }

    [Theory]
    [InlineData(255, 256)] // 256 registers a thread after rounding: 8 warps
    [InlineData(237, 256)] // rounds to 240: 8 warps of 7,680
    [InlineData(168, 384)]
    [InlineData(64, 1024)]
    [InlineData(29, 1024)]
    public void MaxThreadsPerBlock_FollowsTheRegisterFile(int registers, int threads) =>
        Assert.Equal(threads, new KernelResources("x.cu", "k", "sm_90", registers, 0, 0, 0, 0).MaxThreadsPerBlock);

    [Fact]
    public void KernelsCommand_RefusesAnArchitectureThatIsNotOne()
    {
        var (code, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet, [MpirunTraining.Cli, "kernels", "--arch", "sm_90,80"], Limit);

        Assert.Equal(2, code);
        Assert.Contains("--arch '80' is not a compute architecture such as sm_80 or sm_90.", output);
    }

    [NvrtcFact]
    public void KernelsCommand_RefusesAnArchitectureTheNvrtcCannotTarget_InOneSentence()
    {
        // No NVRTC from CUDA 11 on targets Kepler's sm_30 (13 starts at sm_75, 12 at sm_50, 11 at sm_35).
        var (code, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet, [MpirunTraining.Cli, "kernels", "--arch", "sm_90,sm_30"], Limit, "MEDCLIP_CUDA");

        Assert.Equal(2, code);
        string sentence = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("--arch sm_30: the NVRTC in use (", sentence);
        Assert.Matches(@"; it targets sm_\d+(, sm_\d+)*\.$", sentence);
        Assert.Contains("sm_90", sentence);
    }

    [NvrtcFact]
    public void EveryKernelFile_CompilesForTuringAmpereAndHopper_AndEveryKernelFitsTheBackendsBlocks()
    {
        string[] architectures = ["sm_75", "sm_80", "sm_90"];
        var (code, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet,
            [MpirunTraining.Cli, "kernels", "--arch", string.Join(',', architectures), "--json"], Limit, "MEDCLIP_CUDA");

        Assert.True(code == 0, output);
        using var report = JsonDocument.Parse(output.Split('\n').Single(line => line.StartsWith('{')));
        Assert.False(report.RootElement.GetProperty("emulator").GetBoolean());
        Assert.Empty(report.RootElement.GetProperty("failures").EnumerateArray());
        var kernels = report.RootElement.GetProperty("kernels").EnumerateArray().Select(k => new KernelResources(
            k.GetProperty("file").GetString()!, k.GetProperty("kernel").GetString()!, k.GetProperty("architecture").GetString()!,
            k.GetProperty("registers").GetInt32(), k.GetProperty("spill_store_bytes").GetInt32(), k.GetProperty("spill_load_bytes").GetInt32(),
            k.GetProperty("stack_frame_bytes").GetInt32(), k.GetProperty("shared_bytes").GetInt32())).ToList();

        foreach (var architecture in architectures)
        {
            var compiled = kernels.Where(k => k.Architecture == architecture).ToList();
            // Every file yields kernels for every architecture, and the same ones.
            Assert.Equal(KernelCompiler.KernelFiles(), compiled.Select(k => k.File).Distinct().Order(StringComparer.Ordinal));
            Assert.Equal(kernels.Where(k => k.Architecture == architectures[0]).Select(k => k.Kernel).Order(), compiled.Select(k => k.Kernel).Order());
            Assert.All(compiled, k => Assert.True(k.MaxThreadsPerBlock >= LargestBlock,
                $"{k.Kernel} on {architecture} uses {k.Registers} registers a thread: at most {k.MaxThreadsPerBlock} threads a block."));
            Assert.All(compiled, k => Assert.True(k.SharedBytes <= 48 * 1024, $"{k.Kernel} on {architecture}: {k.SharedBytes} bytes of static shared memory."));
        }
        // The tensor-core attention runs from 8.0 on and must keep its fragments in registers there.
        var tensorCore = kernels.Where(k => k.File == "attention_tc.cu" && k.Architecture != "sm_75").ToList();
        Assert.Equal(18, tensorCore.Count);
        Assert.All(tensorCore, k => Assert.False(k.Spills, $"{k.Kernel} on {k.Architecture} spills {k.SpillStoreBytes} bytes."));
        // Nothing that fp32 or bf16 training runs spills; F64 (the tests' reference precision) may.
        Assert.All(kernels.Where(k => !k.Kernel.Contains("f64", StringComparison.Ordinal)),
            k => Assert.False(k.Spills, $"{k.Kernel} on {k.Architecture} spills {k.SpillStoreBytes} bytes."));
    }
}
