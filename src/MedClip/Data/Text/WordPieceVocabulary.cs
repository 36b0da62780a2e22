using System.Text;
using MedClip.IO;

namespace MedClip.Data.Text;

/// <summary>
/// A BERT vocab.txt: one token a line, the id is the line number. Read as HF's load_vocab reads
/// it (a token listed twice answers to its last line), written atomically (<see cref="AtomicFile"/>)
/// so a crash never leaves half a vocabulary.
/// </summary>
public sealed class WordPieceVocabulary
{
    public const string PadToken = "[PAD]", UnknownToken = "[UNK]", ClassToken = "[CLS]", SeparatorToken = "[SEP]", MaskToken = "[MASK]";

    /// <summary>The special tokens in the order a built vocabulary gives them ids 0-4.</summary>
    public static IReadOnlyList<string> SpecialTokens { get; } = [PadToken, UnknownToken, ClassToken, SeparatorToken, MaskToken];

    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _spanIds;

    public WordPieceVocabulary(IEnumerable<string> tokens, string source = "the vocabulary")
    {
        _tokens = tokens.ToArray();
        Source = source;
        _ids = new Dictionary<string, int>(_tokens.Length, StringComparer.Ordinal);
        for (int id = 0; id < _tokens.Length; id++)
            _ids[_tokens[id]] = id;
        _spanIds = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Where the tokens came from, for error messages: the file path or a description.</summary>
    public string Source { get; }

    public IReadOnlyList<string> Tokens => _tokens;

    public int Count => _tokens.Length;

    public static WordPieceVocabulary Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Vocabulary file '{path}' does not exist; pass the vocab.txt of the text encoder or of a previous run.", path);
        string[] lines = File.ReadAllLines(path, Encoding.UTF8);
        if (lines.Length == 0)
            throw new InvalidDataException($"Vocabulary file '{path}' is empty; it should list one token a line, as BERT's vocab.txt does.");
        return new WordPieceVocabulary(lines, $"Vocabulary file '{path}'");
    }

    public bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    public bool TryGetId(ReadOnlySpan<char> token, out int id) => _spanIds.TryGetValue(token, out id);

    /// <summary>The id of a token the tokenizer cannot work without.</summary>
    public int RequiredId(string token) =>
        _ids.TryGetValue(token, out int id)
            ? id
            : throw new InvalidDataException($"{Source} has no '{token}' token; use a BERT vocab.txt, which lists [PAD], [UNK], [CLS] and [SEP].");

    public void Save(string path)
    {
        foreach (string token in _tokens)
        {
            if (token.Contains('\n') || token.Contains('\r'))
                throw new ArgumentException($"Token '{token.ReplaceLineEndings("\\n")}' contains a line break and cannot be stored one token a line.");
        }
        AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), leaveOpen: true);
            foreach (string token in _tokens)
            {
                writer.Write(token);
                writer.Write('\n');
            }
        });
    }
}
