using MedClip.Evaluation;
using MedClip.Inference;
using MedClip.Tests.Evaluation;

namespace MedClip.Tests.Inference;

public sealed class ZeroShotReaderTests(TrainedCheckpointFixture fixture) : IClassFixture<TrainedCheckpointFixture>
{
    private EmbeddingMatrix Images(int count) =>
        fixture.Model.EncodeImages(fixture.Data.Test.Take(count).Select(s => s.ImagePath).ToList(), new()).Embeddings;

    [Fact]
    public void Classes_AreASoftmaxOverScaledSimilarities()
    {
        var images = Images(3);
        var reader = ZeroShotReader.Create(fixture.Model, PromptSet.ForClasses(["pleural effusion", "cardiomegaly", "normal chest"]), ["pleural effusion", "cardiomegaly", "normal chest"]);
        var p = reader.Probabilities(images);
        var texts = fixture.Model.EncodeTexts(["pleural effusion", "cardiomegaly", "normal chest"]);
        for (int i = 0; i < images.Count; i++)
        {
            var logits = Enumerable.Range(0, 3).Select(c => fixture.Model.LogitScale * EmbeddingMatrix.Dot(images.Row(i), texts.Row(c))).ToArray();
            double z = logits.Sum(Math.Exp);
            for (int c = 0; c < 3; c++) Assert.Equal(Math.Exp(logits[c]) / z, p[i][c], 5);
            Assert.Equal(1.0, p[i].Sum(), 12);
        }
        Assert.Equal(p[1], reader.Probabilities(images.Row(1).ToArray()));
    }

    [Fact]
    public void ClassEnsemble_ReadsTheMeanDirectionOfItsPrompts()
    {
        string path = Path.Combine(fixture.Run, "ensemble.json");
        File.WriteAllText(path, """{"effusion": ["{label}", "fluid in the pleural space"], "normal": ["normal chest"]}""");
        var set = PromptSet.Read(path);
        Assert.Equal(PromptForm.Classes, set.Form);
        var reader = ZeroShotReader.Create(fixture.Model, set, set.Labels);
        Assert.Equal(["effusion", "fluid in the pleural space"], reader.Texts[0].Positive);
        var image = Images(1);
        var effusion = fixture.Model.EncodeTexts(["effusion", "fluid in the pleural space"]).MeanDirection();
        var normal = fixture.Model.EncodeTexts(["normal chest"]).MeanDirection();
        double margin = fixture.Model.LogitScale * (EmbeddingMatrix.Dot(image.Row(0), effusion) - EmbeddingMatrix.Dot(image.Row(0), normal));
        Assert.Equal(1 / (1 + Math.Exp(-margin)), reader.Probabilities(image)[0][0], 5);
    }

    [Fact]
    public void Pairs_GiveEachLabelItsOwnProbability_AsEvaluationDoes()
    {
        var images = Images(4);
        var reader = ZeroShotReader.Create(fixture.Model, PromptSet.DefaultPairs(["Edema", "Cardiomegaly"]), ["Edema", "Cardiomegaly"]);
        var p = reader.Probabilities(images);
        var (positive, negative) = ZeroShotClassifier.Directions(fixture.Model, LabelPrompts.Default, "Cardiomegaly");
        var expected = ZeroShotClassifier.Score(images, positive, negative, fixture.Model.LogitScale);
        Assert.Equal(expected, p.Select(row => row[1]));
        Assert.Equal(["no cardiomegaly"], reader.Texts[1].Negative);
    }

    [Fact]
    public void ASoftmaxOfOneClass_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => ZeroShotReader.Create(fixture.Model, PromptSet.ForClasses(["edema"]), ["edema"]));
        Assert.Contains("at least two labels", e.Message);
    }
}
