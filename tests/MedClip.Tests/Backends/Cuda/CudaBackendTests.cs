using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cuda;
using MedClip.Backends.Cuda.Native;
using MedClip.Diagnostics;
using MedClip.Nn;
using MedClip.Models;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>The CUDA backend's host side under the emulator: arena, kernel compilation and cache, errors.</summary>
[Collection(EmulatorCollection.Name)]
public class CudaBackendTests(EmulatorFixture emulator)
{
    [EmulatorFact]
    public void SteadyStateTrainingStep_MakesNoDeviceAllocation_ExactBlocks() => SteadyStateTrainingStep(exact: true);

    [EmulatorFact]
    public void SteadyStateTrainingStep_MakesNoDeviceAllocation_SizeBuckets() => SteadyStateTrainingStep(exact: false);

    [EmulatorFact]
    public void SteadyStateBf16TrainingStep_MakesNoDeviceAllocation_ExactBlocks() => SteadyStateTrainingStep(exact: true, bf16: true);

    private static void SteadyStateTrainingStep(bool exact, bool bf16 = false)
    {
        using var backend = EmulatorFixture.Create(exactAllocations: exact);
        Assert.Equal(exact, backend.Arena.Exact);
        var (config, context) = BackendSelfTest.MicroModel();
        var model = new DualEncoder(new Init(backend, DType.F32, 1, new ComputePolicy(bf16 ? Precision.Bf16 : Precision.Fp32)), config);
        if (bf16) Assert.True(Bf16Weights.Attach(model) > 0);
        var optimizer = new AdamW(WeightDecayPolicy.Groups(model));
        var pixels = Tensor.Zeros(backend, [2, 3, config.Vision.ImageSize, config.Vision.ImageSize]);
        backend.Fill(pixels, 0.25);
        var ids = Tensor.FromArray(backend, [2, context], Enumerable.Range(0, 2 * context).Select(i => i % config.Text.VocabSize).ToArray());
        var mask = Tensor.FromArray(backend, [2, context], Enumerable.Range(0, 2 * context).Select(i => i % context < 6 ? 1 : 0).ToArray());
        double Step()
        {
            using var stepMemory = backend.OpenScope();
            var loss = model.Loss(pixels, ids, mask);
            loss.Backward();
            GradientClipping.ClipByGlobalNorm(model.Parameters(), 1.0);
            optimizer.Update(1e-3);
            return loss.Item();
        }

        Step();
        Step();
        long before = backend.Arena.DeviceAllocations;
        Assert.True(double.IsFinite(Step()));
        Assert.True(double.IsFinite(Step()));
        Assert.Equal(before, backend.Arena.DeviceAllocations);
    }

    [Fact]
    public void ArenaBuckets_RoundSmallToPowersOfTwoAndLargeToMebibytes()
    {
        Assert.Equal(512, DeviceArena.BucketOf(4));
        Assert.Equal(1024, DeviceArena.BucketOf(513));
        Assert.Equal(1 << 20, DeviceArena.BucketOf((1 << 20) - 3));
        Assert.Equal(2 << 20, DeviceArena.BucketOf((1 << 20) + 1));
        Assert.Equal(5 << 20, DeviceArena.BucketOf((4 << 20) + 7));
    }

    [EmulatorFact]
    public void KernelCompileError_NamesTheFileAndShowsTheCompilerLog()
    {
        const string source = "#include \"common.cuh\"\nextern \"C\" __global__ void broken(float* x) { x[0] = not_declared_anywhere; }\n";
        var e = Assert.Throws<KernelCompileException>(() => emulator.Backend.Compiler.Compile("broken.cu", source, KernelCompiler.KernelSource("common.cuh")));
        Assert.Contains("broken.cu", e.Message);
        Assert.Contains("not_declared_anywhere", e.Message);
    }

    [EmulatorFact]
    public void DiskCache_SecondBackendCompilesNothing()
    {
        string cache = Path.Combine(Path.GetTempPath(), "medclip-kernel-cache-" + Guid.NewGuid().ToString("N"));
        try
        {
            float[] Scaled(CudaBackend backend)
            {
                var x = Tensor.FromArray(backend, [5], new[] { 1f, 2, 3, 4, 5 });
                backend.Scale(x, 2);
                return x.ToArray<float>();
            }
            using (var first = EmulatorFixture.Create(cache))
            {
                Assert.Equal([2f, 4, 6, 8, 10], Scaled(first));
                Assert.Equal(1, first.Compiler.Compilations);
            }
            Assert.Single(Directory.GetFiles(cache, "elementwise-*.cubin"));
            Assert.Empty(Directory.GetFiles(cache, "*.tmp"));
            using var second = EmulatorFixture.Create(cache);
            Assert.Equal([2f, 4, 6, 8, 10], Scaled(second));
            Assert.Equal(0, second.Compiler.Compilations);
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [EmulatorFact]
    public void EmbeddingIdOutsideTheTable_IsReportedAtTheNextCopy()
    {
        var backend = emulator.Backend;
        var table = Tensor.Zeros(backend, [4, 3]);
        var ids = Tensor.FromArray(backend, [2], new[] { 1, 40 });
        var y = Tensor.Zeros(backend, [2, 3]);
        backend.EmbeddingForward(table, ids, y, 2, 4, 3);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => y.ToArray<float>());
        Assert.Contains("id 40 at position 1 is outside the table of 4 rows", e.Message);
        Assert.Equal(new float[6], y.ToArray<float>()); // reported once; the backend goes on
    }

    [EmulatorFact]
    public void OutOfMemory_NamesTheTensorAndSuggestsASmallerBatch()
    {
        var e = Assert.Throws<CudaOutOfMemoryException>(() => emulator.Backend.Allocate(DType.F32, 1L << 48));
        Assert.Contains("F32 tensor of", e.Message);
        Assert.Contains("smaller --batch-size", e.Message);
    }

    [Fact]
    public void MissingDriver_IsOneClearSentence()
    {
        var search = new CudaLibrarySearch(Emulator: false, EmulatorPath: null, LibraryPath: "/nonexistent", UseLoaderPath: false, Folders: [], AppContext.BaseDirectory);
        var e = Assert.Throws<CudaUnavailableException>(() => CudaLibraries.Locate(search));
        Assert.Equal("No CUDA driver found (libcuda.so.1): install the NVIDIA driver or use --device cpu.", e.Message);
    }

    [Fact]
    public void NvrtcBuiltins_AreFoundBesideNvrtc_ByTheirSoname()
    {
        var folder = Directory.CreateTempSubdirectory("medclip-nvrtc-").FullName;
        try
        {
            foreach (var name in new[] { "libnvrtc.so.13", "libnvrtc-builtins.so.13.0.88", "libnvrtc-builtins.so.13.0", "libnvrtc-builtins.so.12.8" })
                File.WriteAllText(Path.Combine(folder, name), "");
            Assert.Equal(Path.Combine(folder, "libnvrtc-builtins.so.13.0"), CudaLibraries.CompanionFile(folder, "libnvrtc-builtins.so.13"));
            Assert.Null(CudaLibraries.CompanionFile(folder, "libnvrtc-builtins.so.11.2"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void MissingEmulator_SaysHowToBuildIt()
    {
        var search = new CudaLibrarySearch(Emulator: true, EmulatorPath: "/nonexistent/libmedclip_cuda_emulator.so", null, false, [], AppContext.BaseDirectory);
        var e = Assert.Throws<CudaUnavailableException>(() => CudaLibraries.Locate(search));
        Assert.Contains("MEDCLIP_CUDA_EMULATOR", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [EmulatorFact]
    public void TensorsOfTheCpuBackend_AreRejectedWithTheOpName()
    {
        var x = Tensor.Zeros(MedClip.Backends.Cpu.CpuBackend.Instance, [3]);
        var e = Assert.Throws<ArgumentException>(() => emulator.Backend.Scale(x, 2));
        Assert.Contains("Scale", e.Message);
    }
}
