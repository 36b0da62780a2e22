using System.Globalization;
using System.Text.Json;
using MedClip.Data.Synthetic;
using MedClip.IO;
using MedClip.Tests.Distributed;
using MedClip.Training;

namespace MedClip.Tests.Inference;

/// <summary>A tiny model trained for a few steps by the built medclip-train on generated data, for the command tests.</summary>
public sealed class TrainedRunFixture : IDisposable
{
    public TrainedRunFixture()
    {
        SyntheticChestXrayGenerator.Generate(Data, studies: 30, imageSize: 64, seed: 1);
        var (code, output, _) = Run("train", "--data", $"mimic:{Data}", "--model", "tiny", "--device", "cpu", "--batch-size", "6", "--steps", "3",
            "--warmup", "1", "--log-every", "1", "--out", RunFolder);
        if (code != 0) throw new InvalidOperationException(output);
        Images = System.IO.Directory.GetFiles(Path.Combine(Data, "files"), "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
    }

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("medclip-infer-").FullName;
    public string Data => Path.Combine(Directory, "data");
    public string RunFolder => Path.Combine(Directory, "run");
    public string[] Images { get; }

    public (int ExitCode, string Output, TimeSpan Elapsed) Run(params string[] arguments) =>
        MpirunTraining.Run(MpirunTraining.Dotnet, [MpirunTraining.Cli, .. arguments], TimeSpan.FromMinutes(3), "MEDCLIP_CUDA");

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

public sealed class InferenceCommandTests(TrainedRunFixture run) : IClassFixture<TrainedRunFixture>
{
    private string Temp(string name) => Path.Combine(run.Directory, name);

    [Fact]
    public void Classify_PrintsATableOfTheDefaultPairs_ForAFewImages()
    {
        var (code, output, _) = run.Run(["classify", "--checkpoint", run.RunFolder, "--device", "cpu", "--images", .. run.Images[..3]]);
        Assert.True(code == 0, output);
        Assert.Contains("Pleural Effusion", output);
        Assert.Contains($"#3 {run.Images[2]}", output);
        Assert.Contains("3 of 3 images read (none skipped); prompts: default", output);
    }

    [Fact]
    public void Classify_WritesASoftmaxPerImage_ToCsv()
    {
        string csv = Temp("softmax.csv");
        var (code, output, _) = run.Run("classify", "--checkpoint", run.RunFolder, "--device", "cpu", "--images-dir", Path.Combine(run.Data, "files"),
            "--labels", "pleural effusion, normal chest,cardiomegaly", "--out", csv);
        Assert.True(code == 0, output);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("image,score_pleural effusion,score_normal chest,score_cardiomegaly", lines[0]);
        Assert.Equal(run.Images.Length, lines.Length - 1);
        foreach (var line in lines.Skip(1))
            Assert.Equal(1.0, line.Split(',').Skip(1).Sum(v => double.Parse(v, CultureInfo.InvariantCulture)), 4);
        Assert.DoesNotContain("#1 ", output);
    }

    [Theory]
    [InlineData("--labels", "a,b", "--prompts", "p.json", "Give --labels or --prompts, not both.")]
    [InlineData("--labels", "edema", "", "", "needs at least two comma-separated labels")]
    [InlineData("--prompts", "missing.json", "", "", "Prompt file 'missing.json' does not exist.")]
    public void Classify_UserErrors_AreOneSentence_ExitCode2(string o1, string v1, string o2, string v2, string expected)
    {
        string[] extra = o2.Length > 0 ? [o1, v1, o2, v2] : [o1, v1];
        var (code, output, _) = run.Run(["classify", "--checkpoint", run.RunFolder, "--device", "cpu", "--images", run.Images[0], .. extra]);
        Assert.Equal(2, code);
        Assert.Contains(expected, output);
        Assert.Single(output.Trim().Split('\n'));
    }

    [Fact]
    public void Classify_OfAnUnreadableImage_NamesIt()
    {
        string bad = Temp("bad.jpg");
        File.WriteAllText(bad, "not an image");
        var (code, output, _) = run.Run("classify", "--checkpoint", run.RunFolder, "--device", "cpu", "--images", bad);
        Assert.Equal(2, code);
        Assert.Contains("bad.jpg", output);
    }

    [Fact]
    public void IndexThenSearch_RanksByTextAndByImage_AndRefusesAnotherCheckpoint()
    {
        string index = Temp("index.safetensors");
        var (code, output, _) = run.Run("index", "--checkpoint", run.RunFolder, "--device", "cpu", "--images-dir", Path.Combine(run.Data, "files"), "--out", index);
        Assert.True(code == 0, output);
        Assert.Contains($"{run.Images.Length} images indexed", output);

        (code, output, _) = run.Run("search", "--index", index, "pleural effusion", "--k", "4", "--device", "cpu");
        Assert.True(code == 0, output);
        var rows = output.Trim().Split('\n');
        Assert.Equal(4, rows.Length);
        Assert.All(rows, r => Assert.StartsWith("p1", r.Split("  ", StringSplitOptions.RemoveEmptyEntries)[2]));

        (code, output, _) = run.Run("search", "--index", index, "--image", run.Images[5], "--device", "cpu");
        Assert.True(code == 0, output);
        Assert.EndsWith(Path.GetRelativePath(Path.Combine(run.Data, "files"), run.Images[5]), output.Split('\n')[0].Trim());
        Assert.Contains("1.0000", output.Split('\n')[0]);

        string other = Temp("other");
        System.IO.Directory.CreateDirectory(other);
        string checkpoint = CheckpointStore.Latest(run.RunFolder)!;
        foreach (var file in System.IO.Directory.GetFiles(checkpoint)) File.Copy(file, Path.Combine(other, Path.GetFileName(file)), overwrite: true);
        var weights = File.ReadAllBytes(Path.Combine(other, CheckpointStore.WeightsFile));
        weights[^1] ^= 1;
        File.WriteAllBytes(Path.Combine(other, CheckpointStore.WeightsFile), weights);
        (code, output, _) = run.Run("search", "--index", index, "pleural effusion", "--checkpoint", other, "--device", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("was made by another checkpoint", output);
    }

    [Fact]
    public void Embed_StoresPathsTextsAndLogitScale()
    {
        string texts = Temp("texts.txt"), output = Temp("embeds.safetensors");
        File.WriteAllLines(texts, ["pleural effusion", "normal chest"]);
        var (code, printed, _) = run.Run("embed", "--checkpoint", run.RunFolder, "--device", "cpu", "--images", Path.Combine(run.Data, "files"), "--texts", texts, "--out", output);
        Assert.True(code == 0, printed);
        using var file = SafetensorsFile.Read(output);
        Assert.Equal(run.Images, JsonSerializer.Deserialize<string[]>(file.Metadata["image_paths"]));
        Assert.Equal(["pleural effusion", "normal chest"], JsonSerializer.Deserialize<string[]>(file.Metadata["texts"])!);
        float logitScale = file["logit_scale"].ToFloat32()[0];
        Assert.InRange(logitScale, 0f, (float)Math.Log(100) + 1e-5f);
    }
}
