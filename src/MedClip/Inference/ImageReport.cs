namespace MedClip.Inference;

/// <summary>
/// The report that belongs to an image, when the dataset keeps one: a .txt file of the same name beside the image,
/// else the study's report beside its folder (MIMIC-CXR: files/p10/p10000032/s50414267.txt for the images in s50414267/).
/// </summary>
public static class ImageReport
{
    public static string? Find(string imagePath)
    {
        string own = Path.ChangeExtension(imagePath, ".txt");
        if (File.Exists(own)) return File.ReadAllText(own);
        string folder = Path.GetDirectoryName(Path.GetFullPath(imagePath))!;
        string study = folder.TrimEnd(Path.DirectorySeparatorChar) + ".txt";
        return File.Exists(study) ? File.ReadAllText(study) : null;
    }
}
