"""Writes two fixtures under tests/MedClip.Tests/Fixtures/Text/ from hf_bert_tokenizer_reference.py,
the line-by-line re-implementation of Hugging Face's BertTokenizer:

- bert_tokenizer_parity.json: the ids for strings that trip up naive tokenizers, against the
  small committed vocab.txt beside it;
- bert_basic_tokenizer_random.json: the words BasicTokenizer makes of seeded random strings
  drawn from scripts, combining marks, symbols, CJK, Hangul and control characters (only code
  points assigned in this Python's Unicode version, since HF's output for newer ones depends on
  the Python it runs under).

Run from the repository root with any Python 3:

    python3 tools/reference/make_tokenizer_fixtures.py
"""

import json
import os
import random
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_bert_tokenizer_reference as hf  # noqa: E402

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", "tests", "MedClip.Tests", "Fixtures", "Text"))

UNCASED = [
    "",
    "   \n\t  ",
    "The lungs are clear.",
    "the\nlung",
    "the\tlung",
    "the\r\nlung\n\n\nlungs",
    "a+b",
    "a=b",
    "a<b>c",
    "a~b",
    "37°c",
    "37 ° c",
    "120×80",
    "café",
    "cafe\u0301",
    "CAFÉ",
    "naïve",
    "Résumé",
    "___",
    "Patient ___ with chest pain.",
    "___M s/p CABG.",
    "2.5 cm",
    "2.5cm",
    "T12-L1",
    "s/p",
    "(right lobe)",
    "[left]",
    "a–b",
    "a — b",
    "unaffable",
    "unchanged",
    "pneumothoraxes",
    "cardiomegaly",
    "x" * 100,
    "x" * 101,
    "lung" * 30,
    "中文",
    "肺中",
    "한",
    "ΟΔΟΣ ΟΔΟΣ.",
    "İs",
    "a\u0000b",
    "a\u200bb",
    "a\u00adb",
    "a\ufeffb",
    "a\ufffdb",
    "a\u00a0b",
    "a\u2028b",
    "a\u3000b",
    "a\x0bb\x0cc\x1cd",
    "\x85lung",
    "“quoted” ‘single’",
    "50% 10'",
    "the [CLS] lung [SEP]",
    "[cls] [MASK]x",
    "NO ACUTE CARDIOPULMONARY PROCESS",
    "Pleural effusion; no pneumothorax: heart size normal",
    "PICC line tip ends in the SVC.",
    "\U0001F600 lung",
    "𝐋ung",
]

CASED = [
    "The Lung",
    "café CAFÉ",
    "cafe\u0301",
    "\u1112\u1161\u11ab",
    "a\u0323\u0302 A\u0302\u0323",
    "T12-L1 ___ s/p",
    "a\tb\nc",
]


RANDOM_RANGES = [
    (0x20, 0x7E), (0x00, 0x1F), (0x7F, 0xFF), (0x100, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
    (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x206F),
    (0x2100, 0x22FF), (0x2460, 0x24FF), (0x3000, 0x303F), (0x4E00, 0x4E80), (0xAC00, 0xAC80), (0xF900, 0xF9FF),
    (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0xFFF0, 0xFFFF), (0x10400, 0x1044F), (0x1D400, 0x1D4FF), (0x1F600, 0x1F64F),
    (0x20000, 0x20100), (0x2F800, 0x2F8FF),
]
RANDOM_PIECES = ["the", "Lung", " ", "\n", "\t", "___", "2.5", "[CLS]", "[MASK]", "İ", "Σ", "É", "e\u0301"]
COMBINING = [0x300, 0x301, 0x302, 0x303, 0x308, 0x323, 0x31B, 0x327, 0x328, 0x334, 0x338, 0x345, 0x5B4, 0x5BC, 0x93C, 0x1161, 0x11A8]


def random_text(rng):
    out = []
    for _ in range(rng.randint(0, 24)):
        roll = rng.random()
        if roll < 0.3:
            out.append(rng.choice(RANDOM_PIECES))
        elif roll < 0.5:
            out.append(rng.choice("aeoAEOsS가ᄀ") + "".join(chr(rng.choice(COMBINING)) for _ in range(rng.randint(1, 3))))
        else:
            low, high = rng.choice(RANDOM_RANGES)
            out.append(chr(rng.randint(low, high)))
    return "".join(c for c in "".join(out) if unicodedata.category(c) not in ("Cn", "Cs"))


def basic_words(text, do_lower_case):
    """BertTokenizer.tokenize up to WordPiece: special tokens whole, then BasicTokenizer's words."""
    words = []
    for piece in hf.split_on_special_tokens(text):
        if piece in hf.SPECIAL_TOKENS:
            words.append(piece)
        else:
            words.extend(hf.basic_tokenize(hf.lower_each_char(piece) if do_lower_case else piece, do_lower_case))
    return words


def case(text, vocab, do_lower_case):
    return {
        "text": text,
        "do_lower_case": do_lower_case,
        "tokens": hf.tokenize(text, vocab, do_lower_case),
        "ids": hf.encode(text, vocab, do_lower_case),
    }


def main():
    vocab = hf.load_vocab(os.path.join(FIXTURES, "vocab.txt"))
    cases = [case(t, vocab, True) for t in UNCASED] + [case(t, vocab, False) for t in CASED]
    document = {
        "vocab": "vocab.txt",
        "unicode_version": unicodedata.unidata_version,
        "cases": cases,
    }
    write(document, "bert_tokenizer_parity.json")

    rng = random.Random(2024)
    texts = [random_text(rng) for _ in range(300)]
    write({
        "unicode_version": unicodedata.unidata_version,
        "cases": [{"text": t, "do_lower_case": lower, "words": basic_words(t, lower)} for lower in (True, False) for t in texts],
    }, "bert_basic_tokenizer_random.json")


def write(document, name):
    path = os.path.join(FIXTURES, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print(f"{path}: {len(document['cases'])} cases")


if __name__ == "__main__":
    main()
