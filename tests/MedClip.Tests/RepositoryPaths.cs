namespace MedClip.Tests;

/// <summary>Paths in the repository the tests run from (the folder holding MedClip.sln above the test binaries).</summary>
internal static class RepositoryPaths
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedClip.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new DirectoryNotFoundException($"No MedClip.sln above {AppContext.BaseDirectory}.");
        }
    }
}
