namespace MedClip.Data.Text;

/// <summary>Token ids and attention masks of several texts, row-major [Count, ContextLength].</summary>
public sealed record EncodedBatch(int[] Ids, int[] AttentionMask, int Count, int ContextLength)
{
    /// <summary>
    /// The same texts padded only to the longest of them, as Hugging Face's padding collator does: the padding columns
    /// that every row has are dropped. Padded keys are masked, so no embedding changes beyond float rounding, and the
    /// text tower skips their work.
    /// </summary>
    public EncodedBatch TrimmedToLongest()
    {
        int tokens = LongestText(AttentionMask, Count, ContextLength);
        return tokens == ContextLength ? this
            : new EncodedBatch(FirstColumns(Ids, Count, ContextLength, tokens), FirstColumns(AttentionMask, Count, ContextLength, tokens), Count, tokens);
    }

    /// <summary>One past the last unmasked position of any row of a [count, contextLength] mask (at least 1).</summary>
    public static int LongestText(ReadOnlySpan<int> attentionMask, int count, int contextLength)
    {
        int longest = 1;
        for (int row = 0; row < count; row++)
        {
            int last = attentionMask.Slice(row * contextLength, contextLength).LastIndexOfAnyExcept(0);
            longest = Math.Max(longest, last + 1);
        }
        return longest;
    }

    /// <summary>The first <paramref name="columns"/> columns of a row-major [count, contextLength] matrix.</summary>
    public static int[] FirstColumns(ReadOnlySpan<int> matrix, int count, int contextLength, int columns)
    {
        var kept = new int[count * columns];
        for (int row = 0; row < count; row++)
            matrix.Slice(row * contextLength, columns).CopyTo(kept.AsSpan(row * columns, columns));
        return kept;
    }
}

/// <summary>
/// The text side of the data pipeline: report text to the ids a BERT text tower reads, the same
/// ids Hugging Face's BertTokenizer gives for the same vocab.txt (BasicTokenizer by
/// <see cref="BertPreTokenizer"/>, WordPiece by <see cref="WordPieceEncoder"/>). Encode gives
/// [CLS] tokens [SEP] then [PAD] up to the context length, the tokens cut to contextLength - 2,
/// as HF does with truncation=True and padding="max_length".
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers 2.0.1's BertTokenizer was tried and gives other ids: it deletes
/// newlines and tabs instead of splitting on them, drops symbols such as + = &lt; &gt; ~, turns
/// "___" into [UNK] instead of three "_", and cannot strip accents under InvariantGlobalization.
/// Only its greedy WordPiece loop would be usable, and that is the few lines of WordPieceEncoder.
/// </remarks>
public sealed class ReportTokenizer : ITextTokenizer
{
    public const string VocabularyFileName = "vocab.txt";

    private readonly BertPreTokenizer _preTokenizer;
    private readonly WordPieceEncoder _wordPiece;
    private readonly HashSet<string> _specialTokens;

    /// <summary>The tokenizer of a Hugging Face text encoder or checkpoint folder: its vocab.txt and, if present, tokenizer_config.json.</summary>
    public static ReportTokenizer FromFolder(string folder)
    {
        string vocabularyPath = Path.Combine(folder, VocabularyFileName);
        if (!File.Exists(vocabularyPath))
            throw new FileNotFoundException($"Folder '{folder}' has no {VocabularyFileName}; a BERT text encoder folder holds one beside its config.json.", vocabularyPath);
        string configPath = Path.Combine(folder, BertTokenizerConfigJson.FileName);
        bool lowerCase = !File.Exists(configPath) || BertTokenizerConfigJson.ReadLowerCase(configPath);
        return new ReportTokenizer(vocabularyPath, lowerCase);
    }

    /// <summary>Writes vocab.txt and tokenizer_config.json into <paramref name="folder"/>, so HF's BertTokenizer loads the same tokenizer.</summary>
    public void Save(string folder)
    {
        Vocabulary.Save(Path.Combine(folder, VocabularyFileName));
        BertTokenizerConfigJson.Write(Path.Combine(folder, BertTokenizerConfigJson.FileName), LowerCase);
    }

    public ReportTokenizer(string vocabularyPath, bool lowerCase = true)
        : this(WordPieceVocabulary.Load(vocabularyPath), lowerCase)
    {
    }

    public ReportTokenizer(WordPieceVocabulary vocabulary, bool lowerCase = true)
    {
        Vocabulary = vocabulary;
        LowerCase = lowerCase;
        PadId = vocabulary.RequiredId(WordPieceVocabulary.PadToken);
        UnknownId = vocabulary.RequiredId(WordPieceVocabulary.UnknownToken);
        ClassId = vocabulary.RequiredId(WordPieceVocabulary.ClassToken);
        SeparatorId = vocabulary.RequiredId(WordPieceVocabulary.SeparatorToken);
        _specialTokens = new HashSet<string>(WordPieceVocabulary.SpecialTokens, StringComparer.Ordinal);
        _preTokenizer = new BertPreTokenizer(lowerCase, _specialTokens);
        _wordPiece = new WordPieceEncoder(vocabulary, UnknownId);
    }

    public WordPieceVocabulary Vocabulary { get; }
    public bool LowerCase { get; }
    public int VocabularySize => Vocabulary.Count;
    public int PadId { get; }
    public int UnknownId { get; }
    public int ClassId { get; }
    public int SeparatorId { get; }

    /// <summary>The words WordPiece is given: HF's BasicTokenizer output.</summary>
    public IReadOnlyList<string> Words(string text)
    {
        var words = new List<string>();
        _preTokenizer.Split(text, words);
        return words;
    }

    /// <summary>The ids of the text's tokens, without [CLS], [SEP] or padding (HF's tokenize + convert_tokens_to_ids).</summary>
    public List<int> TokenIds(string text)
    {
        var ids = new List<int>();
        foreach (string word in Words(text))
        {
            // A special token cut out of the text maps straight to its id, or to [UNK] if the vocabulary lacks it.
            if (_specialTokens.Contains(word))
                ids.Add(Vocabulary.TryGetId(word, out int id) ? id : UnknownId);
            else
                _wordPiece.Encode(word, ids);
        }
        return ids;
    }

    /// <summary>Token ids and attention mask of one text, each exactly <paramref name="contextLength"/> long.</summary>
    public (int[] Ids, int[] AttentionMask) Encode(string text, int contextLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var ids = new int[contextLength];
        var mask = new int[contextLength];
        EncodeInto(text, ids, mask);
        return (ids, mask);
    }

    /// <summary>
    /// Ids and mask from token ids already computed by <see cref="TokenIds"/> (prepared shards): [CLS], as many tokens as
    /// fit, [SEP], padding, exactly as <see cref="Encode(string, int)"/> gives for the text they came from.
    /// </summary>
    public (int[] Ids, int[] AttentionMask) Encode(IReadOnlyList<int> tokenIds, int contextLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var ids = new int[contextLength];
        var mask = new int[contextLength];
        EncodeInto(tokenIds, ids, mask);
        return (ids, mask);
    }

    public EncodedBatch EncodeBatch(IReadOnlyList<string> texts, int contextLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var ids = new int[texts.Count * contextLength];
        var mask = new int[texts.Count * contextLength];
        Parallel.For(0, texts.Count, row =>
            EncodeInto(texts[row], ids.AsSpan(row * contextLength, contextLength), mask.AsSpan(row * contextLength, contextLength)));
        return new EncodedBatch(ids, mask, texts.Count, contextLength);
    }

    private void EncodeInto(string text, Span<int> ids, Span<int> mask) => EncodeInto(TokenIds(text), ids, mask);

    private void EncodeInto(IReadOnlyList<int> tokens, Span<int> ids, Span<int> mask)
    {
        int kept = Math.Min(tokens.Count, ids.Length - 2);
        ids[0] = ClassId;
        for (int i = 0; i < kept; i++)
            ids[1 + i] = tokens[i];
        ids[1 + kept] = SeparatorId;
        ids[(2 + kept)..].Fill(PadId);
        mask[..(2 + kept)].Fill(1);
        mask[(2 + kept)..].Fill(0);
    }
}
