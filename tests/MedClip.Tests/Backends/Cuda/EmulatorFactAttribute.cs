namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// A test that needs the CUDA emulator. It is skipped, visibly, only in a checkout without tests/cuda-emulator (its
/// sources); where the sources are, a missing or broken library fails the test instead.
/// </summary>
public sealed class EmulatorFactAttribute : FactAttribute
{
    public EmulatorFactAttribute()
    {
        if (!EmulatorSourcesPresent()) Skip = SkipReason;
    }

    internal const string SkipReason = "this checkout has no tests/cuda-emulator to run the CUDA backend on";

    internal static bool EmulatorSourcesPresent()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("MEDCLIP_CUDA_EMULATOR"))) return true;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MedClip.sln")))
                return File.Exists(Path.Combine(dir.FullName, "tests", "cuda-emulator", "CMakeLists.txt"));
        }
        return false;
    }
}

/// <summary>A theory that needs the CUDA emulator, skipped like <see cref="EmulatorFactAttribute"/>.</summary>
public sealed class EmulatorTheoryAttribute : TheoryAttribute
{
    public EmulatorTheoryAttribute()
    {
        if (!EmulatorFactAttribute.EmulatorSourcesPresent()) Skip = EmulatorFactAttribute.SkipReason;
    }
}
