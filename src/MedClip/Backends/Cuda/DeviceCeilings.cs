using MedClip.Tensors;
using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

/// <summary>The ceilings a kernel's rate is compared with: copy bandwidth, or one precision's GEMM throughput.</summary>
public enum Ceiling
{
    Copy,
    Fp32,
    Tf32,
    Bf16,
}

/// <summary>
/// What this card measurably reaches, the reference for kernel throughputs and for MFU on a card the datasheet table
/// does not list: device-to-device copy bandwidth (bytes read plus bytes written per second, one cuMemcpyDtoDAsync of
/// <c>copyBytes</c>) and the throughput of a square GEMM C = A B^T of side <c>gemmSize</c> (2 n^3 operations) in pedantic
/// FP32, on TF32 tensor cores, and on BF16 inputs with FP32 accumulation. Each is the best of <c>rounds</c> rounds of
/// <c>opsPerRound</c> operations timed with CUDA events on the backend's stream, after one untimed round.
/// </summary>
public sealed record DeviceCeilings(double CopyGBps, double Fp32Tflops, double Tf32Tflops, double Bf16Tflops)
{
    public const long DefaultCopyBytes = 1L << 30;
    public const int DefaultGemmSize = 8192;

    /// <summary>The ceiling of <paramref name="kind"/>: GB/s for <see cref="Ceiling.Copy"/>, else TFLOP/s.</summary>
    public double Of(Ceiling kind) => kind switch
    {
        Ceiling.Copy => CopyGBps,
        Ceiling.Fp32 => Fp32Tflops,
        Ceiling.Tf32 => Tf32Tflops,
        Ceiling.Bf16 => Bf16Tflops,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static DeviceCeilings Measure(CudaBackend backend, long copyBytes = DefaultCopyBytes, int gemmSize = DefaultGemmSize, int rounds = 3,
        int opsPerRound = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(copyBytes, 4);
        ArgumentOutOfRangeException.ThrowIfLessThan(gemmSize, 1);
        var source = Tensor.Zeros(backend, [checked((int)(copyBytes / 4))]);
        var copy = Tensor.Zeros(backend, source.Shape);
        double copySeconds = BestSeconds(backend, rounds, opsPerRound, () => backend.Cast(source, copy));
        double copyGBps = 2.0 * source.Length * 4 / copySeconds / 1e9;
        source = copy = null!;

        var shape = new GemmShape(false, true, gemmSize, gemmSize, gemmSize);
        double flops = 2.0 * gemmSize * gemmSize * gemmSize;
        var a = Tensor.Zeros(backend, [gemmSize, gemmSize]);
        var b = Tensor.Zeros(backend, [gemmSize, gemmSize]);
        var c = Tensor.Zeros(backend, [gemmSize, gemmSize]);
        bool tf32 = backend.AllowTf32;
        double fp32, tf32Rate;
        try
        {
            backend.AllowTf32 = false;
            fp32 = flops / BestSeconds(backend, rounds, opsPerRound, () => backend.Gemm(a, b, c, shape)) / 1e12;
            backend.AllowTf32 = true;
            tf32Rate = flops / BestSeconds(backend, rounds, opsPerRound, () => backend.Gemm(a, b, c, shape)) / 1e12;
        }
        finally
        {
            backend.AllowTf32 = tf32;
        }
        var a16 = Tensor.Zeros(backend, a.Shape, DType.BF16);
        var b16 = Tensor.Zeros(backend, b.Shape, DType.BF16);
        double bf16 = flops / BestSeconds(backend, rounds, opsPerRound, () => backend.Gemm(a16, b16, c, shape)) / 1e12;
        return new DeviceCeilings(copyGBps, fp32, tf32Rate, bf16);
    }

    // Seconds per operation in the fastest of `rounds` rounds, each `ops` operations between two events on the stream.
    private static double BestSeconds(CudaBackend backend, int rounds, int ops, Action operation)
    {
        var device = backend.Device;
        device.MakeCurrent();
        Check(cuEventCreate(out nint start, 0), "cuEventCreate");
        Check(cuEventCreate(out nint end, 0), "cuEventCreate");
        try
        {
            for (int i = 0; i < ops; i++) operation();
            double best = double.PositiveInfinity;
            for (int round = 0; round < rounds; round++)
            {
                Check(cuEventRecord(start, device.Stream), "cuEventRecord");
                for (int i = 0; i < ops; i++) operation();
                Check(cuEventRecord(end, device.Stream), "cuEventRecord");
                Check(cuEventSynchronize(end), "cuEventSynchronize");
                Check(cuEventElapsedTime(out float milliseconds, start, end), "cuEventElapsedTime");
                best = Math.Min(best, milliseconds * 1e-3 / ops);
            }
            // An event pair resolves to about half a microsecond; a round too short to register is not a rate.
            return best > 0 ? best : throw new InvalidOperationException("DeviceCeilings: a timed round took no measurable time; use larger sizes.");
        }
        finally
        {
            cuEventDestroy_v2(start);
            cuEventDestroy_v2(end);
        }
    }
}
