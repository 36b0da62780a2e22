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
/// <c>copyBytes</c>) and the throughput of a square GEMM C = A B^T of side <c>gemmSize</c> (2 n^3 operations) of uniform random
/// values in FP32, on TF32 tensor cores, and on BF16 inputs with FP32 accumulation. Each is the best of <c>rounds</c> rounds of
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

    /// <summary>All four ceilings; BF16 GEMMs need compute capability 8.0, so before it the BF16 ceiling is NaN.</summary>
    public static DeviceCeilings Measure(CudaBackend backend, long copyBytes = DefaultCopyBytes, int gemmSize = DefaultGemmSize, int rounds = 3,
        int opsPerRound = 5)
    {
        double copy = MeasureCopy(backend, copyBytes, rounds, opsPerRound);
        double Gemm(Ceiling kind) => MeasureGemm(backend, kind, gemmSize, rounds, opsPerRound);
        return new DeviceCeilings(copy, Gemm(Ceiling.Fp32), Gemm(Ceiling.Tf32),
            backend.Device.ComputeMajor >= 8 ? Gemm(Ceiling.Bf16) : double.NaN);
    }

    /// <summary>Device-to-device copy bandwidth in GB/s, bytes read plus bytes written.</summary>
    public static double MeasureCopy(CudaBackend backend, long copyBytes = DefaultCopyBytes, int rounds = 3, int opsPerRound = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(copyBytes, 4);
        var source = Tensor.Zeros(backend, [checked((int)(copyBytes / 4))]);
        var copy = Tensor.Zeros(backend, source.Shape);
        return 2.0 * source.Length * 4 / BestSeconds(backend, rounds, opsPerRound, () => backend.Cast(source, copy)) / 1e9;
    }

    /// <summary>The TFLOP/s of a square GEMM C = A B^T of side <paramref name="size"/> in one precision (not <see cref="Ceiling.Copy"/>).</summary>
    public static double MeasureGemm(CudaBackend backend, Ceiling kind, int size = DefaultGemmSize, int rounds = 3, int opsPerRound = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        if (kind == Ceiling.Copy) throw new ArgumentException("MeasureGemm: the copy ceiling is MeasureCopy's.", nameof(kind));
        var inputs = kind == Ceiling.Bf16 ? DType.BF16 : DType.F32;
        var a = RandomMatrix(backend, size, inputs, seed: 1);
        var b = RandomMatrix(backend, size, inputs, seed: 2);
        var c = Tensor.Zeros(backend, [size, size]);
        var shape = new GemmShape(false, true, size, size, size);
        bool tf32 = backend.AllowTf32;
        try
        {
            if (kind != Ceiling.Bf16) backend.AllowTf32 = kind == Ceiling.Tf32;
            return 2.0 * size * size * size / BestSeconds(backend, rounds, opsPerRound, () => backend.Gemm(a, b, c, shape)) / 1e12;
        }
        finally
        {
            backend.AllowTf32 = tf32;
        }
    }

    // Uniform values in [-1, 1): a GEMM of zero-filled matrices runs measurably faster than one of real data (an H200's
    // BF16 GEMM by about 13%), which would overstate the ceiling.
    private static Tensor RandomMatrix(CudaBackend backend, int size, DType dtype, int seed)
    {
        var random = new Random(seed);
        var values = new float[(long)size * size];
        for (long i = 0; i < values.LongLength; i++) values[i] = random.NextSingle() * 2 - 1;
        var matrix = Tensor.FromArray(backend, [size, size], values);
        if (dtype == DType.F32) return matrix;
        var converted = Tensor.Zeros(backend, [size, size], dtype);
        backend.Cast(matrix, converted);
        return converted;
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
