"""Writes the CLIP tokenizer fixtures from hf_clip_tokenizer_reference.py:

- tests/MedClip.Tests/Fixtures/Clip/model/{vocab.json, merges.txt, tokenizer_config.json,
  special_tokens_map.json}: a small tokenizer in the real CLIP format (the 256 byte characters,
  the same with "</w>", one entry per merge learnt here from report sentences, then
  <|startoftext|> and <|endoftext|>), which the CLIPModel fixture folder uses too;
- tests/MedClip.Tests/Fixtures/Clip/clip_tokenizer_parity.json: input_ids and attention_mask of
  a few hundred texts at max_length 77 (padding="max_length", truncation=True).

Run from the repository root with any Python 3:

    python3 tools/reference/make_clip_tokenizer_fixtures.py
"""

import collections
import json
import os
import random
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_clip_tokenizer_reference as clip  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "MedClip.Tests", "Fixtures", "Clip")
MERGES = 400

REPORTS = [
    "No acute cardiopulmonary process.",
    "The lungs are clear without focal consolidation, effusion, or pneumothorax.",
    "Heart size is normal. Mediastinal and hilar contours are unremarkable.",
    "There is a small left pleural effusion with adjacent atelectasis.",
    "Moderate cardiomegaly is stable compared to the prior study.",
    "Right-sided PICC line terminates in the mid SVC.",
    "Endotracheal tube tip is 4.5 cm above the carina.",
    "Nasogastric tube courses below the diaphragm, tip not seen.",
    "Interval increase in bilateral pleural effusions, right greater than left.",
    "Mild pulmonary vascular congestion without frank edema.",
    "Patchy opacity at the right lung base may reflect pneumonia or aspiration.",
    "No pneumothorax is identified.",
    "Sternotomy wires and mediastinal clips are noted, s/p CABG.",
    "Degenerative changes of the thoracic spine.",
    "Lung volumes are low, causing crowding of the bronchovascular markings.",
    "There is no evidence of pulmonary edema.",
    "A 2.3 x 1.8 cm nodule in the left upper lobe is new since ___.",
    "Findings were discussed with Dr. ___ at 10:45 on ___.",
    "IMPRESSION: 1. Small bilateral effusions. 2. No focal consolidation.",
    "FINDINGS: PA and lateral views of the chest were obtained.",
    "Comparison is made to the study from 2019-03-14.",
    "The cardiac silhouette is enlarged; the aorta is tortuous.",
    "Left basilar atelectasis, likely subsegmental.",
    "There's no free air under the diaphragm.",
    "The patient's known right hilar mass is unchanged.",
    "Can't exclude early pneumonia in the appropriate clinical setting.",
    "Support devices are in standard position (ETT, NGT, right IJ line).",
    "Hyperinflated lungs consistent with COPD/emphysema.",
    "Small apical pneumothorax on the right, ~5%.",
    "Cardiomediastinal silhouette within normal limits!",
    "Possible trace effusion?",
    "Re-demonstrated calcified granuloma, 7mm, RLL.",
    "Osseous structures: intact.",
    "\"Clear\" lungs per the referring team's note.",
    "Pleural effusion; no pneumothorax: heart size normal",
    "NO ACUTE CARDIOPULMONARY PROCESS",
    "Low lung volumes. Bibasilar opacities—likely atelectasis.",
    "Heart size top-normal; pulmonary vasculature is normal.",
    "We'll follow up in 6–8 weeks; they've been notified; I'd recommend CT.",
    "You're seeing post-surgical changes; I'm not concerned; it's stable.",
]

SPECIAL = [
    "",
    " ",
    "   \n\t  ",
    "a",
    "A",
    "a photo of a chest x-ray",
    "the\nlung",
    "the\tlung",
    "the\r\nlung\n\n\nlungs",
    "a+b=c",
    "a<b>c",
    "37°C",
    "37 ° c",
    "120×80 mmHg",
    "1234567890",
    "3.14159",
    "1,000,000",
    "v2.0.1-beta",
    "café",
    "cafe\u0301",
    "CAFÉ",
    "naïve Résumé",
    "Ærø Straße",
    "São Paulo, Zürich, Kraków",
    "İstanbul",
    "ΟΔΟΣ ΟΔΟΣ. Σ",
    "ΑΣ'Σ",
    "Москва — лёгкие",
    "中文 肺部",
    "肺中x",
    "한국어 흉부",
    "日本語のテキスト",
    "مرحبا",
    "שלום",
    "नमस्ते",
    "\U0001F600 lung \U0001F44D\U0001F3FD",
    "𝐋ung 𝟙𝟚",
    "don't won't isn't it's I'm you're we've they'll he'd",
    "DON'T IT'S",
    "'s 't 're 've 'm 'll 'd",
    "''quoted'' 'single'",
    "rock'n'roll o'clock",
    "“quoted” ‘single’ «guillemets»",
    "50% 10' 5\"",
    "...!!!???",
    "a...b",
    "(right lobe) [left] {both}",
    "a–b a — b",
    "___",
    "Patient ___ with chest pain.",
    "s/p",
    "T12-L1",
    "x" * 100,
    "lung " * 80,
    "pneumothorax " * 40,
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
    "<|startoftext|>",
    "<|endoftext|>",
    "a<|endoftext|>b",
    "lungs <|startoftext|> clear <|endoftext|> <|endoftext|>",
    "<|ENDOFTEXT|>",
    "(<|endoftext|>)",
    "½ ² ³ Ⅻ ①",
    "x²+y²",
    "ﬁle ﬂow",
    "Ａｂｃ１２３",
    "tab\tseparated\tvalues",
]

PIECES = ["the", "Lung", "lungs", " ", " ", " ", "\n", "\t", "___", "2.5", "'s", "'t", "n't", "'", "-", ".", ",", ";", "(", ")",
          "İ", "Σ", "É", "é", "e\u0301", "ß", "ﬁ", "中", "한", "😀", "𝐋", "½", "٣", "<|endoftext|>", "x-ray", "CT", "mm", "%"]
RANGES = [(0x20, 0x7E), (0x00, 0x1F), (0x7F, 0xFF), (0x100, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
          (0x2000, 0x206F), (0x2100, 0x22FF), (0x3000, 0x303F), (0x4E00, 0x4E80), (0xAC00, 0xAC80), (0xFF00, 0xFFEF),
          (0x1F600, 0x1F64F)]


def random_text(rng):
    out = []
    for _ in range(rng.randint(0, 20)):
        roll = rng.random()
        if roll < 0.35:
            out.append(rng.choice(REPORTS).split()[rng.randrange(3)])
        elif roll < 0.7:
            out.append(rng.choice(PIECES))
        else:
            low, high = rng.choice(RANGES)
            out.append(chr(rng.randint(low, high)))
    return "".join(c for c in "".join(out) if unicodedata.category(c) not in ("Cn", "Cs"))


def learn_merges(texts, count):
    """Plain BPE learning on the byte-mapped pattern pieces, "</w>" on each piece's last symbol."""
    words = collections.Counter()
    for text in texts:
        for piece in clip.pattern_pieces(" ".join(clip.basic_words(text))):
            mapped = "".join(clip.BYTE_ENCODER[b] for b in piece.encode("utf-8"))
            words[tuple(mapped[:-1]) + (mapped[-1] + "</w>",)] += 1
    merges = []
    for _ in range(count):
        pairs = collections.Counter()
        for word, freq in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += freq
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        merged = collections.Counter()
        for word, freq in words.items():
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        words = merged
    return merges


def write_tokenizer(folder, merges):
    os.makedirs(folder, exist_ok=True)
    symbols = list(clip.BYTE_ENCODER.values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [clip.BOS, clip.EOS]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    special = {"bos_token": clip.BOS, "eos_token": clip.EOS, "unk_token": clip.EOS, "pad_token": clip.EOS}
    with open(os.path.join(folder, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(special, f, indent=2)
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, "errors": "replace", **special}, f, indent=2)
    return vocab


def main():
    rng = random.Random(22)
    folder = os.path.join(FIXTURES, "model")
    merges = learn_merges(REPORTS, MERGES)
    write_tokenizer(folder, merges)
    tokenizer = clip.load(folder)
    texts = REPORTS + SPECIAL + [random_text(rng) for _ in range(220)]
    cases = []
    for text in texts:
        ids, mask = tokenizer.encode(text, 77)
        cases.append({"text": text, "input_ids": ids, "attention_mask": mask})
    with open(os.path.join(FIXTURES, "clip_tokenizer_parity.json"), "w", encoding="utf-8") as f:
        f.write('{"max_length": 77, "cases": [\n' + ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases) + "\n]}\n")
    print(f"{len(merges)} merges, {len(tokenizer.vocab)} tokens, {len(cases)} texts, "
          f"{sum(len(tokenizer.ids(t)) > 75 for t in texts)} truncated")


if __name__ == "__main__":
    main()
