namespace MedClip.Inference;

/// <summary>The images a folder holds (.jpg, .jpeg, .png, in any subfolder), sorted by path so every run lists them alike.</summary>
public static class ImageFolder
{
    public static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];

    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    public static IReadOnlyList<string> List(string folder, string option)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{option} '{folder}' is not a folder.");
        var paths = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Where(IsImage).Order(StringComparer.Ordinal).ToList();
        if (paths.Count == 0) throw new InvalidDataException($"{option} '{folder}' holds no .jpg, .jpeg or .png images.");
        return paths;
    }

    /// <summary>A file's path relative to <paramref name="root"/>, with '/' separators.</summary>
    public static string Relative(string root, string path) => Path.GetRelativePath(root, path).Replace(Path.DirectorySeparatorChar, '/');
}
