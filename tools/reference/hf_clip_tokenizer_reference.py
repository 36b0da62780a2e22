"""A re-implementation of Hugging Face's slow CLIPTokenizer as it runs without ftfy, written from
transformers' tokenization_clip.py: the text goes through BasicTokenizer(strip_accents=False,
do_split_on_punc=False) (clean, space CJK, NFC, split on whitespace, str.lower per word), the
words are joined by spaces and cut by CLIP's pattern

    <\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+

(re.IGNORECASE; scanned by hand here, since the `regex` module is not installed), each piece's
UTF-8 bytes are mapped to unicode characters (bytes_to_unicode), and BPE merges them with "</w>"
on the last symbol. Special tokens in the text are cut out first, as PreTrainedTokenizer.tokenize
does. Only the standard library and hf_bert_tokenizer_reference (BasicTokenizer's steps) are used.
"""

import json
import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_bert_tokenizer_reference as bert  # noqa: E402

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")
MAX_MERGES = 49152 - 256 - 2  # CLIPTokenizer reads merges.txt lines [1 : 49152 - 256 - 2 + 1]


def bytes_to_unicode():
    """tokenization_clip.bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()


def basic_words(text):
    """BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False).tokenize."""
    text = bert.space_chinese_chars(bert.clean_text(text))
    text = unicodedata.normalize("NFC", text)
    return " ".join(token.lower() for token in text.split()).split()


def is_letter(c):
    return unicodedata.category(c).startswith("L")


def is_number(c):
    return unicodedata.category(c).startswith("N")


def pattern_pieces(text):
    """re.findall(CLIP's pattern, text, re.IGNORECASE), alternatives tried in order at each position."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        lowered = text[i:i + len(BOS)].lower()
        special = next((s for s in (BOS, EOS) if lowered.startswith(s)), None)
        if special is not None:
            pieces.append(text[i:i + len(special)])
            i += len(special)
            continue
        if text[i] == "'":
            ending = next((c for c in CONTRACTIONS if text[i + 1:i + 1 + len(c)].lower() == c), None)
            if ending is not None:
                pieces.append(text[i:i + 1 + len(ending)])
                i += 1 + len(ending)
                continue
        c = text[i]
        if is_letter(c):
            j = i
            while j < n and is_letter(text[j]):
                j += 1
        elif is_number(c):
            j = i + 1
        elif c.isspace():
            i += 1
            continue
        else:
            j = i
            while j < n and not text[j].isspace() and not is_letter(text[j]) and not is_number(text[j]):
                j += 1
        pieces.append(text[i:j])
        i = j
    return pieces


def get_pairs(word):
    return {(word[k], word[k + 1]) for k in range(len(word) - 1)}


def bpe(token, ranks):
    """CLIPTokenizer.bpe: merge the lowest-ranked pair everywhere, left to right, until none is left. Its
    cache starts with the two special tokens, so a pattern piece that spells one is that token."""
    if token in (BOS, EOS):
        return [token]
    word = tuple(token[:-1]) + (token[-1] + "</w>",)
    pairs = get_pairs(word)
    if not pairs:
        return [token + "</w>"]
    while True:
        bigram = min(pairs, key=lambda pair: ranks.get(pair, float("inf")))
        if bigram not in ranks:
            break
        first, second = bigram
        new_word, i = [], 0
        while i < len(word):
            try:
                j = word.index(first, i)
            except ValueError:
                new_word.extend(word[i:])
                break
            new_word.extend(word[i:j])
            i = j
            if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                new_word.append(first + second)
                i += 2
            else:
                new_word.append(word[i])
                i += 1
        word = tuple(new_word)
        if len(word) == 1:
            break
        pairs = get_pairs(word)
    return list(word)


def split_on_special_tokens(text, specials):
    """PreTrainedTokenizer.tokenize: the added-tokens trie cuts special tokens out first (leftmost, longest)."""
    out, start = [], 0
    while start < len(text):
        hits = [(text.find(s, start), -len(s), s) for s in specials if text.find(s, start) >= 0]
        if not hits:
            out.append(text[start:])
            break
        at, _, special = min(hits)
        if at > start:
            out.append(text[start:at])
        out.append(special)
        start = at + len(special)
    return out


class ClipTokenizer:
    def __init__(self, vocab, merges, pad_token=EOS):
        self.vocab = vocab
        self.ranks = {tuple(m.split()): r for r, m in enumerate(merges[:MAX_MERGES])}
        self.pad_token = pad_token
        self.specials = sorted({BOS, EOS, pad_token})

    def tokens(self, text):
        out = []
        for segment in split_on_special_tokens(text, self.specials):
            if segment in self.specials:
                out.append(segment)
                continue
            for piece in pattern_pieces(" ".join(basic_words(segment))):
                out.extend(bpe("".join(BYTE_ENCODER[b] for b in piece.encode("utf-8")), self.ranks))
        return out

    def ids(self, text):
        unk = self.vocab[EOS]
        return [self.vocab.get(t, unk) for t in self.tokens(text)]

    def encode(self, text, max_length=77):
        """tokenizer(text, padding="max_length", truncation=True, max_length=max_length)."""
        body = self.ids(text)[:max_length - 2]
        ids = [self.vocab[BOS]] + body + [self.vocab[EOS]]
        mask = [1] * len(ids)
        pad = max_length - len(ids)
        return ids + [self.vocab[self.pad_token]] * pad, mask + [0] * pad


def load(folder):
    with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
        merges = f.read().strip().split("\n")[1:]
    pad = EOS
    special_map = os.path.join(folder, "special_tokens_map.json")
    if os.path.exists(special_map):
        with open(special_map, encoding="utf-8") as f:
            entry = json.load(f).get("pad_token", EOS)
            pad = entry["content"] if isinstance(entry, dict) else entry
    return ClipTokenizer(vocab, merges, pad)
