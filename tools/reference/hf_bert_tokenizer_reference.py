"""A faithful re-implementation of Hugging Face's slow (Python) BertTokenizer, written from
reading transformers' tokenization_bert.py (BasicTokenizer, WordpieceTokenizer) and the
PreTrainedTokenizer.tokenize steps that run before them. transformers is not packaged for
Debian, so MedClip's tokenizer fixtures are produced with this module instead; it uses only
the standard library, and each step below names the HF step it stands for.

Settings covered: do_lower_case True or False, tokenize_chinese_chars=True,
strip_accents=None (so accents are stripped exactly when lower-casing), never_split empty,
the five BERT special tokens.
"""

import re
import unicodedata

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_INPUT_CHARS_PER_WORD = 100


def load_vocab(path):
    """load_vocab: one token a line, id = line number; a repeated token keeps its last id."""
    vocab = {}
    with open(path, "r", encoding="utf-8") as reader:
        for index, line in enumerate(reader.readlines()):
            vocab[line.rstrip("\n")] = index
    return vocab


def is_whitespace(char):
    """tokenization_utils._is_whitespace: space, tab, newline, carriage return, category Zs."""
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char):
    """tokenization_utils._is_control: any C* category except tab, newline, carriage return."""
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def is_punctuation(char):
    """tokenization_utils._is_punctuation: the ASCII non-alphanumerics (so $, +, <, ^, ` count)
    and every Unicode P* category."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_chinese_char(cp):
    """BasicTokenizer._is_chinese_char: the CJK Unified Ideographs blocks."""
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def split_on_special_tokens(text):
    """PreTrainedTokenizer.tokenize: the added-tokens trie cuts the special tokens out first
    (exact, case-sensitive matches; BERT's have no lstrip/rstrip)."""
    pattern = "(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")"
    return [piece for piece in re.split(pattern, text) if piece]


def lower_each_char(text):
    """PreTrainedTokenizer.tokenize with do_lower_case: re.sub(r"(special)|(.+?)", ...) lowers
    one character at a time, so no context rule (final sigma) applies; '.' skips newlines,
    which lower() leaves alone anyway."""
    return "".join(c.lower() for c in text)


def clean_text(text):
    """BasicTokenizer._clean_text: drop NUL, U+FFFD and control characters; whitespace -> space."""
    out = []
    for char in text:
        if ord(char) == 0 or ord(char) == 0xFFFD or is_control(char):
            continue
        out.append(" " if is_whitespace(char) else char)
    return "".join(out)


def space_chinese_chars(text):
    """BasicTokenizer._tokenize_chinese_chars: a space either side of each CJK ideograph."""
    return "".join(f" {c} " if is_chinese_char(ord(c)) else c for c in text)


def strip_accents(text):
    """BasicTokenizer._run_strip_accents: NFD, then drop category Mn."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def split_on_punctuation(token):
    """BasicTokenizer._run_split_on_punc: every punctuation character becomes its own token."""
    out = []
    start_new_word = True
    for char in token:
        if is_punctuation(char):
            out.append(char)
            start_new_word = True
        else:
            if start_new_word:
                out.append("")
            start_new_word = False
            out[-1] += char
    return out


def basic_tokenize(text, do_lower_case):
    """BasicTokenizer.tokenize: clean, space CJK, NFC, split on whitespace (str.split), lower
    and strip accents per token, split punctuation, split on whitespace again."""
    text = clean_text(text)
    text = space_chinese_chars(text)
    text = unicodedata.normalize("NFC", text)
    words = []
    for token in text.split():
        if do_lower_case:
            token = strip_accents(token.lower())
        words.extend(split_on_punctuation(token))
    return " ".join(words).split()


def wordpiece(word, vocab):
    """WordpieceTokenizer.tokenize for one word: greedy longest match first, '##' on
    continuations; a word over 100 characters, or one with an unmatched rest, is [UNK]."""
    if len(word) > MAX_INPUT_CHARS_PER_WORD:
        return ["[UNK]"]
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        match = None
        while start < end:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                match = piece
                break
            end -= 1
        if match is None:
            return ["[UNK]"]
        pieces.append(match)
        start = end
    return pieces


def tokenize(text, vocab, do_lower_case=True):
    """BertTokenizer.tokenize: special tokens stay whole, every other piece goes through the
    lower-casing pass, BasicTokenizer and WordpieceTokenizer."""
    tokens = []
    for piece in split_on_special_tokens(text):
        if piece in SPECIAL_TOKENS:
            tokens.append(piece)
            continue
        if do_lower_case:
            piece = lower_each_char(piece)
        for word in basic_tokenize(piece, do_lower_case):
            tokens.extend(wordpiece(word, vocab))
    return tokens


def encode(text, vocab, do_lower_case=True):
    """convert_tokens_to_ids without [CLS]/[SEP]: unknown tokens map to [UNK]'s id."""
    return [vocab.get(t, vocab["[UNK]"]) for t in tokenize(text, vocab, do_lower_case)]
