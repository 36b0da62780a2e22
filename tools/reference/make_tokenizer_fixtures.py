"""Writes tests/MedClip.Tests/Fixtures/Text/bert_tokenizer_parity.json: the ids that Hugging
Face's BertTokenizer gives (through hf_bert_tokenizer_reference.py, its line-by-line
re-implementation) for strings that trip up naive tokenizers, against the small committed
vocab.txt beside the fixture. Run from the repository root with any Python 3:

    python3 tools/reference/make_tokenizer_fixtures.py
"""

import json
import os
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
    path = os.path.join(FIXTURES, "bert_tokenizer_parity.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
