using MedClip.Evaluation;

namespace MedClip.Tests.Evaluation;

public sealed class PromptSetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-prompts-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(_dir, "prompts.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Default_IsLabelVersusNoLabel()
    {
        var p = PromptSet.Default.For("Pleural Effusion");
        Assert.Equal(["pleural effusion"], p.Positive.Select(t => LabelPrompts.Fill(t, "Pleural Effusion")));
        Assert.Equal(["no pleural effusion"], p.Negative.Select(t => LabelPrompts.Fill(t, "Pleural Effusion")));
    }

    [Fact]
    public void File_OverridesListedLabels_OthersKeepTheDefault()
    {
        var set = PromptSet.Read(Write("""{"Edema": {"positive": ["{label}", "pulmonary edema"], "negative": ["no {label}", "lungs are clear"]}}"""), EvaluationRun.Labels);
        Assert.Equal(["{label}", "pulmonary edema"], set.For("Edema").Positive);
        Assert.Equal(["lungs are clear"], set.For("Edema").Negative.Skip(1));
        Assert.Same(LabelPrompts.Default, set.For("Cardiomegaly"));
    }

    [Theory]
    [InlineData("""{"Edemaa": {"positive": ["a"], "negative": ["b"]}}""", "'Edemaa' is not a label")]
    [InlineData("""{"Edema": {"positive": [], "negative": ["b"]}}""", "needs a \"positive\" list")]
    [InlineData("""{"Edema": {"positive": ["a"]}}""", "needs a \"negative\" list")]
    [InlineData("""["Edema"]""", "must be a JSON object")]
    [InlineData("""{"Edema": """, "not valid JSON")]
    public void BadFile_IsOneClearSentence(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => PromptSet.Read(Write(json), EvaluationRun.Labels));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ClassForm_ListsTemplatesPerLabel_InFileOrder()
    {
        var set = PromptSet.Read(Write("""{"Mass": ["{label}", "a mass in the lung"], "Normal": ["normal chest"]}"""));
        Assert.Equal(PromptForm.Classes, set.Form);
        Assert.Equal(["Mass", "Normal"], set.Labels);
        Assert.Equal(["mass", "a mass in the lung"], set.ClassPrompts("Mass"));
    }

    [Fact]
    public void AnyLabelName_IsAccepted_WhenTheDataCarriesIt()
    {
        var set = PromptSet.Read(Write("""{"Nodule": {"positive": ["{label}"], "negative": ["no {label}"]}}"""), ["Nodule", "Mass"]);
        Assert.Equal(["Nodule"], set.Labels);
    }

    [Theory]
    [InlineData("""{"a": ["x"], "b": {"positive": ["y"], "negative": ["z"]}}""", "mixes label -> [...]")]
    [InlineData("""{"a": []}""", "'a' needs a list of one or more")]
    [InlineData("""{}""", "at least one label")]
    public void BadClassFile_IsOneClearSentence(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => PromptSet.Read(Write(json)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Evaluation_RefusesClassPrompts()
    {
        var e = Assert.Throws<InvalidDataException>(() => PromptSet.Read(Write("""{"Edema": ["edema"]}"""), EvaluationRun.Labels));
        Assert.Contains("needs label -> {\"positive\"", e.Message);
    }

    [Fact]
    public void MeanDirection_AveragesThenRenormalises()
    {
        var m = new EmbeddingMatrix([1, 0, 0, 1], 2, 2).MeanDirection();
        Assert.Equal(Math.Sqrt(0.5), m[0], 6);
        Assert.Equal(Math.Sqrt(0.5), m[1], 6);
    }
}
