using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

public class SentenceSamplingTests
{
    private const string Report =
        "1. No acute intrathoracic process. 2. There is no consolidation. A 2.5 cm nodule projects over the right apex. " +
        "Heart size is mildly enlarged (stable)! Is there a small effusion?";

    [Fact]
    public void Sentences_SplitAfterWordsNotAfterListNumbersOrDecimals()
    {
        Assert.Equal(
            [
                "1. No acute intrathoracic process.", "2. There is no consolidation.", "A 2.5 cm nodule projects over the right apex.",
                "Heart size is mildly enlarged (stable)!", "Is there a small effusion?",
            ],
            SentenceSampling.Sentences(Report));
    }

    [Fact]
    public void Sample_KeepsReportOrderAndAtLeastOneSentence()
    {
        var sampling = new SentenceSampling(0.05);
        var rng = new Random(3);
        var all = SentenceSampling.Sentences(Report).ToList();
        var lengths = new HashSet<int>();
        for (int i = 0; i < 200; i++)
        {
            var kept = SentenceSampling.Sentences(sampling.Sample(Report, rng));
            Assert.NotEmpty(kept);
            var positions = kept.Select(s => all.IndexOf(s)).ToList();
            Assert.DoesNotContain(-1, positions);
            Assert.Equal(positions.Order(), positions);
            lengths.Add(kept.Count);
        }
        Assert.Contains(1, lengths);
        Assert.True(lengths.Count > 1, "with p = 0.05 over 200 draws some texts keep two or more sentences");
    }

    [Fact]
    public void Sample_KeepsAboutTheGivenFractionOfSentences()
    {
        var sampling = new SentenceSampling(0.5);
        var rng = new Random(1);
        double mean = Enumerable.Range(0, 2000).Average(_ => SentenceSampling.Sentences(sampling.Sample(Report, rng)).Count);
        // Binomial(5, 0.5) with the empty draw (probability 1/32) replaced by one sentence: mean 2.5 + 1/32.
        Assert.InRange(mean, 2.45, 2.62);
    }

    [Fact]
    public void Sample_IsDeterministicForTheGeneratorAndWholeAtProbabilityOne()
    {
        var sampling = new SentenceSampling(0.5);
        Assert.Equal(sampling.Sample(Report, new Random(7)), sampling.Sample(Report, new Random(7)));
        Assert.Equal(Report, new SentenceSampling(1).Sample(Report, new Random(7)));
        Assert.Equal("No effusion", sampling.Sample("No effusion", new Random(7)));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void KeepProbability_OutsideTheUnitInterval_IsRefused(double p)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SentenceSampling(p));
    }

    [Fact]
    public void PeriodDrop_AtOne_RemovesEverySentencePeriod_ButNotListNumbersOrOtherMarks()
    {
        var sampling = new SentenceSampling(1, periodDropProbability: 1);
        Assert.True(sampling.ChangesTexts);
        Assert.Equal(
            "1. No acute intrathoracic process 2. There is no consolidation A 2.5 cm nodule projects over the right apex " +
            "Heart size is mildly enlarged (stable)! Is there a small effusion?",
            sampling.Sample(Report, new Random(0)));
        Assert.Equal("No edema", sampling.Sample("No edema.", new Random(0)));
        Assert.Equal("Mild cardiomegaly (stable)", sampling.Sample("Mild cardiomegaly (stable).", new Random(0)));
    }

    [Fact]
    public void PeriodDrop_DropsAboutTheGivenFraction_EachSentenceOnItsOwn()
    {
        var sampling = new SentenceSampling(1, periodDropProbability: 0.5);
        var rng = new Random(5);
        var forms = new HashSet<string>();
        int periods = 0;
        for (int i = 0; i < 2000; i++)
        {
            string text = sampling.Sample("No edema. No effusion.", rng);
            forms.Add(text);
            periods += text.Count(c => c == '.');
        }
        Assert.Equal(["No edema No effusion", "No edema No effusion.", "No edema. No effusion", "No edema. No effusion."], forms.Order());
        Assert.InRange(periods / 4000.0, 0.47, 0.53);
    }

    [Fact]
    public void PeriodDrop_AtZero_LeavesTheSentenceSamplingAsItWas()
    {
        var plain = new SentenceSampling(0.5);
        var withZero = new SentenceSampling(0.5, periodDropProbability: 0);
        Assert.False(new SentenceSampling(1, 0).ChangesTexts);
        for (int seed = 0; seed < 20; seed++)
            Assert.Equal(plain.Sample(Report, new Random(seed)), withZero.Sample(Report, new Random(seed)));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void PeriodDropProbability_OutsideTheUnitInterval_IsRefused(double p)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SentenceSampling(1, p));
    }
}
