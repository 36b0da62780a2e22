using MedClip.Data.Text;

namespace MedClip.Tests.Data.Text;

public sealed class ReportTokenizerFolderTests : IDisposable
{
    private static readonly string VocabularyPath = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Text", "vocab.txt");
    private readonly string _folder = Directory.CreateTempSubdirectory("medclip-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SaveThenFromFolder_GivesTheSameTokenizer(bool lowerCase)
    {
        var tokenizer = new ReportTokenizer(VocabularyPath, lowerCase);

        tokenizer.Save(_folder);
        ReportTokenizer loaded = ReportTokenizer.FromFolder(_folder);

        Assert.Equal(lowerCase, loaded.LowerCase);
        Assert.Equal(tokenizer.Vocabulary.Tokens, loaded.Vocabulary.Tokens);
        Assert.Equal(tokenizer.TokenIds("The Lung, café ___"), loaded.TokenIds("The Lung, café ___"));
    }

    [Fact]
    public void FolderWithoutConfig_LowerCasesAsHuggingFaceDefaults()
    {
        File.Copy(VocabularyPath, Path.Combine(_folder, "vocab.txt"));

        Assert.True(ReportTokenizer.FromFolder(_folder).LowerCase);
    }

    [Fact]
    public void FolderWithoutVocabulary_NamesTheFolder()
    {
        var error = Assert.Throws<FileNotFoundException>(() => ReportTokenizer.FromFolder(_folder));

        Assert.Contains(_folder, error.Message);
    }

    [Theory]
    [InlineData("""{"do_lower_case": true, "strip_accents": false}""")]
    [InlineData("""{"do_lower_case": false, "strip_accents": true}""")]
    [InlineData("""{"tokenize_chinese_chars": false}""")]
    public void UnsupportedSettings_AreRefused(string config)
    {
        File.Copy(VocabularyPath, Path.Combine(_folder, "vocab.txt"));
        File.WriteAllText(Path.Combine(_folder, "tokenizer_config.json"), config);

        var error = Assert.Throws<NotSupportedException>(() => ReportTokenizer.FromFolder(_folder));

        Assert.Contains("tokenizer_config.json", error.Message);
    }

    [Theory]
    [InlineData("""{"do_lower_case": false, "strip_accents": null, "model_max_length": 512}""", false)]
    [InlineData("""{"do_lower_case": true, "strip_accents": true}""", true)]
    public void SupportedSettings_AreRead(string config, bool expectedLowerCase)
    {
        File.Copy(VocabularyPath, Path.Combine(_folder, "vocab.txt"));
        File.WriteAllText(Path.Combine(_folder, "tokenizer_config.json"), config);

        Assert.Equal(expectedLowerCase, ReportTokenizer.FromFolder(_folder).LowerCase);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("""{"do_lower_case": "yes"}""")]
    public void MalformedConfig_NamesTheFile(string config)
    {
        File.Copy(VocabularyPath, Path.Combine(_folder, "vocab.txt"));
        string path = Path.Combine(_folder, "tokenizer_config.json");
        File.WriteAllText(path, config);

        var error = Assert.Throws<InvalidDataException>(() => ReportTokenizer.FromFolder(_folder));

        Assert.Contains(path, error.Message);
    }
}
