using System.Runtime.Intrinsics;

namespace MedClip.Backends.Cpu;

/// <summary>
/// The vector width <see cref="CpuGemm"/> computes with, fixed when the backend is built. Every path accumulates each
/// output element's products in the same order with the same operations, so all paths give bit-identical results; the
/// width only sets how many output columns one micro-kernel computes at once.
/// </summary>
public enum CpuGemmPath
{
    /// <summary>No accelerated 256-bit vectors: a direct scalar loop for every size.</summary>
    Scalar,

    /// <summary>6 x 2 Vector256 register tiles (6 x 16 floats).</summary>
    Vector256,

    /// <summary>6 x 2 Vector512 register tiles (6 x 32 floats).</summary>
    Vector512,
}

/// <summary>Which <see cref="CpuGemmPath"/> a host runs, and the names <c>bench</c> reports.</summary>
public static class CpuGemmPaths
{
    /// <summary>The widest path this CPU accelerates.</summary>
    public static CpuGemmPath Host =>
        Vector512.IsHardwareAccelerated ? CpuGemmPath.Vector512
        : Vector256.IsHardwareAccelerated ? CpuGemmPath.Vector256
        : CpuGemmPath.Scalar;

    /// <summary>Whether this CPU accelerates <paramref name="path"/>'s vectors.</summary>
    public static bool IsAccelerated(CpuGemmPath path) => path switch
    {
        CpuGemmPath.Scalar => true,
        CpuGemmPath.Vector256 => Vector256.IsHardwareAccelerated,
        CpuGemmPath.Vector512 => Vector512.IsHardwareAccelerated,
        _ => false,
    };

    /// <summary>"scalar", "vector256" or "vector512".</summary>
    public static string Name(CpuGemmPath path) => path.ToString().ToLowerInvariant();
}
