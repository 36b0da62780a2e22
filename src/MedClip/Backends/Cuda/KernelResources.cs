using System.Globalization;
using System.Text.RegularExpressions;

namespace MedClip.Backends.Cuda;

/// <summary>
/// What ptxas reports for one kernel compiled for one architecture (NVRTC with <c>--ptxas-options=-v</c>): registers per
/// thread, the bytes spilled to local memory and read back, the stack frame, and static shared memory.
/// </summary>
public sealed partial record KernelResources(string File, string Kernel, string Architecture, int Registers, int SpillStoreBytes,
    int SpillLoadBytes, int StackFrameBytes, int SharedBytes)
{
    /// <summary>Registers in one SM's register file, and the most one block may use, on every architecture from 5.0 on.</summary>
    public const int RegisterFile = 65536;

    /// <summary>
    /// The largest block the register file lets this kernel launch with: registers are allocated per warp, rounded up to
    /// a multiple of 8 per thread; a launch asking for more fails with CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES.
    /// </summary>
    public int MaxThreadsPerBlock => Registers == 0 ? 1024 : Math.Min(1024, RegisterFile / ((Registers + 7) / 8 * 8 * 32) * 32);

    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;

    /// <summary>Reads ptxas's report out of an NVRTC log; kernels appear in the order ptxas compiled them.</summary>
    public static IReadOnlyList<KernelResources> Parse(string file, string log)
    {
        var kernels = new List<KernelResources>();
        string? kernel = null, architecture = null;
        int stack = 0, spillStores = 0, spillLoads = 0;
        foreach (var line in log.Split('\n'))
        {
            if (EntryLine().Match(line) is { Success: true } entry)
            {
                (kernel, architecture, stack, spillStores, spillLoads) = (entry.Groups[1].Value, entry.Groups[2].Value, 0, 0, 0);
            }
            else if (FrameLine().Match(line) is { Success: true } frame)
            {
                (stack, spillStores, spillLoads) = (Int(frame, 1), Int(frame, 2), Int(frame, 3));
            }
            else if (UsedLine().Match(line) is { Success: true } used && kernel is not null)
            {
                var shared = SharedPart().Match(line);
                kernels.Add(new(file, kernel, architecture!, Int(used, 1), spillStores, spillLoads, stack, shared.Success ? Int(shared, 1) : 0));
                kernel = null;
            }
        }
        return kernels;
    }

    private static int Int(Match match, int group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"Compiling entry function '([^']+)' for '(\w+)'")]
    private static partial Regex EntryLine();

    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex FrameLine();

    [GeneratedRegex(@"Used (\d+) registers")]
    private static partial Regex UsedLine();

    [GeneratedRegex(@"(\d+) bytes smem")]
    private static partial Regex SharedPart();
}
