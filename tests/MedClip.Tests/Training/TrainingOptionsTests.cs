using MedClip.Training;

namespace MedClip.Tests.Training;

public class TrainingOptionsTests
{
    [Fact]
    public void Defaults_AreValid() => new TrainingOptions().Validate(1);

    [Theory]
    [InlineData(0.0, "--sentence-keep")]
    [InlineData(1.01, "--sentence-keep")]
    public void SentenceKeepProbability_OutsideTheUnitInterval_IsRefused(double p, string option)
    {
        var e = Assert.Throws<ArgumentException>(() => (new TrainingOptions() with { SentenceKeepProbability = p }).Validate(1));
        Assert.Contains(option, e.Message);
    }

    [Theory]
    [InlineData(-0.5)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void PeriodDropProbability_OutsideTheUnitInterval_IsRefused(double p)
    {
        var e = Assert.Throws<ArgumentException>(() => (new TrainingOptions() with { PeriodDropProbability = p }).Validate(1));
        Assert.StartsWith($"--drop-periods {p} must be in [0, 1]", e.Message);
        (new TrainingOptions() with { PeriodDropProbability = 1 }).Validate(1);
    }

    [Fact]
    public void AccumulationSteps_BelowOne_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => (new TrainingOptions() with { AccumulationSteps = 0 }).Validate(1));
        Assert.Contains("--accumulation-steps", e.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(double.NaN)]
    public void LearningRateTowers_NotPositive_IsRefused(double lr)
    {
        var e = Assert.Throws<ArgumentException>(() => (new TrainingOptions() with { LearningRateTowers = lr }).Validate(1));
        Assert.Contains("--lr-towers", e.Message);
    }

    [Fact]
    public void GlobalBatchNotDivisibleByTheRanks_IsRefused()
    {
        var options = new TrainingOptions { BatchSize = 6 };
        options.Validate(2);
        var e = Assert.Throws<ArgumentException>(() => options.Validate(4));
        Assert.Equal("--batch-size 6 is the global batch and must be divisible by the 4 ranks; use a multiple of 4.", e.Message);
    }

    [Fact]
    public void UnlockLast_WithoutALockedTower_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => (new TrainingOptions() with { UnlockLast = 1 }).Validate(1));
        Assert.Contains("--lock-image, --lock-text or --adapters", e.Message);
        (new TrainingOptions() with { UnlockLast = 1, LockText = true }).Validate(1);
        (new TrainingOptions() with { UnlockLast = 1, Adapters = 8 }).Validate(1);
    }

    [Fact]
    public void Adapters_NegativeDimension_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => (new TrainingOptions() with { Adapters = -1 }).Validate(1));
        Assert.Contains("--adapters -1", e.Message);
    }
}

public class TrainingOptionsFlagTests
{
    [Theory]
    [InlineData("--wd")]
    [InlineData("--workers")]
    [InlineData("--val-every")]
    [InlineData("--image-size")]
    [InlineData("--report-to")]
    [InlineData("--log-every")]
    public void OutOfRangeValues_AreRefusedNamingTheOption(string option)
    {
        var bad = option switch
        {
            "--wd" => new TrainingOptions { WeightDecay = -0.1 },
            "--workers" => new TrainingOptions { Workers = 0 },
            "--val-every" => new TrainingOptions { ValidateEvery = -1 },
            "--image-size" => new TrainingOptions { ImageSize = 0 },
            "--log-every" => new TrainingOptions { LogEvery = 0 },
            _ => new TrainingOptions { ReportTo = ["wandb"] },
        };
        var e = Assert.Throws<ArgumentException>(() => bad.Validate(1));
        Assert.StartsWith(option, e.Message);
    }

    [Fact]
    public void ReportTo_TakesACommaSeparatedListOfKnownSinks()
    {
        Assert.Equal(["jsonl", "tensorboard"], MetricsReport.Parse("jsonl, tensorboard"));
        Assert.Throws<ArgumentException>(() => MetricsReport.Parse(""));
        new TrainingOptions { WeightDecay = 0, ValidateEvery = 0, ImageSize = 32, ReportTo = ["tensorboard"] }.Validate(1);
    }
}
