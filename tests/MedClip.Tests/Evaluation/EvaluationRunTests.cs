using MedClip.Backends.Cpu;
using MedClip.Data;
using MedClip.Evaluation;
using MedClip.Inference;
using MedClip.Training;

namespace MedClip.Tests.Evaluation;

/// <summary>A one-step checkpoint and its synthetic dataset, trained once for the evaluation tests.</summary>
public sealed class TrainedCheckpointFixture : IDisposable
{
    public string Run { get; } = Directory.CreateTempSubdirectory("medclip-eval-").FullName;
    public string Checkpoint { get; }
    public CheckpointModel Model { get; }
    public LoadedDataset Data { get; }

    public TrainedCheckpointFixture()
    {
        var options = new TrainingOptions
        {
            Data = "synthetic", Model = "tiny", SyntheticStudies = 150, BatchSize = 8, Steps = 1, WarmupSteps = 1,
            LogEvery = 1, ValidateEvery = 1, CheckpointEvery = 1, OutputDirectory = Run, Workers = 2,
        };
        TrainingRun.Execute(options, CpuBackend.Instance, null, resume: false, CancellationToken.None);
        Checkpoint = CheckpointStore.Latest(Run)!;
        Model = CheckpointModel.Load(Checkpoint, CpuBackend.Instance);
        Data = DatasetSpec.Parse("synthetic").Load(Run, Model.Images.Size, seed: 0);
    }

    public void Dispose() => Directory.Delete(Run, recursive: true);
}

public sealed class EvaluationRunTests(TrainedCheckpointFixture fixture) : IClassFixture<TrainedCheckpointFixture>
{
    private EvaluationOptions Options(PromptSet? prompts = null) =>
        new("medclip-train eval (test)", fixture.Checkpoint, "synthetic", "test", prompts ?? PromptSet.Default, UncertainLabels.Exclude, Resamples: 50);

    [Fact]
    public void AnEmptySplit_IsAUserErrorNamingTheSplitAndTheData()
    {
        var error = Assert.Throws<InvalidDataException>(() => EvaluationRun.Run(fixture.Model, [], fixture.Data.Train, Options()));
        Assert.Equal("The test split of synthetic has no studies to evaluate: choose another with --split or give data that has one.", error.Message);
    }

    [Fact]
    public void UnreadableImages_AreSkippedAndCountedByReason()
    {
        var test = fixture.Data.Test.ToList();
        string truncated = Path.Combine(fixture.Run, "truncated.jpg");
        var bytes = File.ReadAllBytes(test[0].ImagePath);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        test[0] = test[0] with { ImagePath = truncated };
        test[1] = test[1] with { ImagePath = Path.Combine(fixture.Run, "missing.jpg") };

        var report = EvaluationRun.Run(fixture.Model, test, fixture.Data.Train, Options());
        Assert.Equal(test.Count - 2, report.Evaluated.Count);
        Assert.Equal(test.Count, report.ImagesListed);
        Assert.Equal([KeyValuePair.Create("corrupt image", 1L), KeyValuePair.Create("missing file", 1L)], report.Skipped.Counts);
        Assert.DoesNotContain(report.Evaluated, s => s.ImagePath == truncated);
        Assert.Equal(test.Count - 2, report.ZeroShotScores!["Edema"].Length);
    }

    [Fact]
    public void SplitWithoutLabels_RunsRetrievalOnly_WithANotice()
    {
        var unlabelled = fixture.Data.Test.Select(s => s with { Labels = new Dictionary<string, float?>() }).ToList();
        var report = EvaluationRun.Run(fixture.Model, unlabelled, fixture.Data.Train, Options());
        Assert.Null(report.ZeroShot);
        Assert.Null(report.Probe);
        Assert.Null(report.FiveByTwoHundred);
        Assert.NotNull(report.Retrieval);
        Assert.Equal(unlabelled.Count, report.Retrieval.Pairs);
        Assert.Contains("no CheXpert labels", report.LabelsNotice);

        string dir = Path.Combine(fixture.Run, "eval-unlabelled");
        EvaluationOutputs.Write(report, dir);
        var metrics = MetricsJson.Build(report);
        Assert.Null(metrics["zero_shot"]);
        Assert.NotNull(metrics["retrieval"]!["image_to_text_R@1"]);
        Assert.Contains("no CheXpert labels", File.ReadAllText(Path.Combine(dir, EvaluationOutputs.ReportFile)));
    }

    [Fact]
    public void Evaluation_IsReproducible_AndHashesFollowTheData()
    {
        var a = MetricsJson.Build(EvaluationRun.Run(fixture.Model, fixture.Data.Test, fixture.Data.Train, Options())).ToJsonString();
        var b = MetricsJson.Build(EvaluationRun.Run(fixture.Model, fixture.Data.Test, fixture.Data.Train, Options())).ToJsonString();
        Assert.Equal(a, b);

        var changed = fixture.Data.Test.ToList();
        var labels = new Dictionary<string, float?>(changed[0].Labels) { ["Edema"] = changed[0].Labels.GetValueOrDefault("Edema") == 1f ? 0f : 1f };
        changed[0] = changed[0] with { Labels = labels };
        Assert.NotEqual(EvaluationHashes.Data(fixture.Data.Test), EvaluationHashes.Data(changed));
        Assert.Equal(EvaluationHashes.Data(fixture.Data.Test), EvaluationHashes.Data(fixture.Data.Test.ToList()));
    }

    [Fact]
    public void SeveralTemplates_AreAveragedIntoOneRenormalisedDirection()
    {
        var prompts = new LabelPrompts(["{label}", "large {label}"], ["no {label}"]);
        var (positive, _) = ZeroShotClassifier.Directions(fixture.Model, prompts, "Pleural Effusion");
        var each = fixture.Model.EncodeTexts(["pleural effusion", "large pleural effusion"]);
        var expected = each.MeanDirection();
        Assert.Equal(expected, positive);
        Assert.Equal(1.0, Math.Sqrt(EmbeddingMatrix.Dot(positive, positive)), 5);
        Assert.NotEqual(each.Row(0).ToArray(), positive);
    }

    [Fact]
    public void LabelsOutsideCheXpert_AreScoredZeroShot_WithTheirPrompts()
    {
        var renamed = fixture.Data.Test.Select(s => s with
        {
            Labels = new Dictionary<string, float?> { ["effusion"] = s.Labels["Pleural Effusion"], ["big heart"] = s.Labels["Cardiomegaly"] },
        }).ToList();
        Assert.Equal(["effusion", "big heart"], EvaluationRun.LabelsOf(renamed));
        string path = Path.Combine(fixture.Run, "renamed-prompts.json");
        File.WriteAllText(path, """{"effusion": {"positive": ["pleural effusion"], "negative": ["no pleural effusion"]}}""");
        var report = EvaluationRun.Run(fixture.Model, renamed, [], Options(PromptSet.Read(path, EvaluationRun.LabelsOf(renamed))));
        Assert.Equal(["effusion", "big heart"], report.ZeroShot!.Select(b => b.Label));
        var reference = EvaluationRun.Run(fixture.Model, fixture.Data.Test, [], Options());
        Assert.Equal(reference.ZeroShotScores!["Pleural Effusion"], report.ZeroShotScores!["effusion"]);
        Assert.Equal(reference.ZeroShot!.Single(b => b.Label == "Pleural Effusion").Auroc, report.ZeroShot![0].Auroc);
        Assert.Throws<InvalidDataException>(() => PromptSet.Read(path, EvaluationRun.Labels));
    }

    [Fact]
    public void CheckpointWithoutVocab_IsAClearError()
    {
        string copy = Path.Combine(fixture.Run, "no-vocab");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(fixture.Checkpoint).Where(f => Path.GetFileName(f) != CheckpointStore.VocabFile))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)), overwrite: true);
        var e = Assert.Throws<InvalidDataException>(() => CheckpointModel.Load(copy, CpuBackend.Instance));
        Assert.Contains("vocab.txt missing", e.Message);
    }
}
