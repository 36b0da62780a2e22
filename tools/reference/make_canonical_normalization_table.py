"""Writes src/MedClip/Data/Text/CanonicalNormalizationTable.g.cs: the Unicode data that NFC needs,
taken from Python's unicodedata. Hugging Face's BasicTokenizer applies NFC before splitting words,
and .NET's string.Normalize does nothing under InvariantGlobalization, so MedClip's cased tokenizer
normalises with this table. Hangul syllables are left out: they are composed and decomposed
arithmetically.

Only what cannot be derived is stored: each code point's one-level canonical decomposition (as in
UnicodeData.txt), the composition exclusions (CompositionExclusions.txt), and the combining classes
as ranges. Full decompositions are the recursive expansion of the one-level ones, and the primary
composites are the two-code-point decompositions that are neither excluded nor start with a
non-starter; this script checks both derivations against unicodedata.normalize before writing.
Run from the repository root with any Python 3:

    python3 tools/reference/make_canonical_normalization_table.py
"""

import unicodedata

from csharp_spans import span_property, write_generated

OUT = "src/MedClip/Data/Text/CanonicalNormalizationTable.g.cs"


def canonical_mapping(char):
    raw = unicodedata.decomposition(char)
    if not raw or raw.startswith("<"):
        return None
    return [int(x, 16) for x in raw.split()]


def full_decomposition(cp, mappings):
    if cp not in mappings:
        return [cp]
    return [d for part in mappings[cp] for d in full_decomposition(part, mappings)]


def main():
    mappings, classes = {}, {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        mapping = canonical_mapping(chr(cp))
        if mapping:
            mappings[cp] = mapping
        if unicodedata.combining(chr(cp)):
            classes[cp] = unicodedata.combining(chr(cp))

    exclusions = []
    for cp, mapping in mappings.items():
        full = full_decomposition(cp, mappings)
        assert "".join(map(chr, full)) == unicodedata.normalize("NFD", chr(cp)), hex(cp)
        composes = unicodedata.normalize("NFC", "".join(map(chr, full))) == chr(cp)
        non_starter = cp in classes or full[0] in classes
        if len(mapping) == 2 and not non_starter and not composes:
            exclusions.append(cp)
        assert composes == (len(mapping) == 2 and not non_starter and cp not in exclusions), hex(cp)

    ranges = []
    for cp in sorted(classes):
        if ranges and ranges[-1][1] == cp - 1 and ranges[-1][2] == classes[cp]:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, classes[cp]])

    decomposed = sorted(mappings)
    body = [
        *span_property("DecomposedCodePoints", "int", decomposed,
                       "Every code point with a canonical decomposition mapping, ascending."),
        *span_property("DecompositionFirst", "int", [mappings[cp][0] for cp in decomposed],
                       "The first code point of each one-level mapping (recursively decomposable)."),
        *span_property("DecompositionSecond", "int", [(mappings[cp] + [0])[1] for cp in decomposed],
                       "The second code point of each mapping, or 0 where the mapping is a single code point."),
        *span_property("CompositionExclusions", "int", exclusions,
                       "Starter pairs that composition does not rejoin (CompositionExclusions.txt), ascending."),
        *span_property("CombiningClassRangeFirst", "int", [r[0] for r in ranges],
                       "The first code point of each run of code points sharing a non-zero combining class, ascending."),
        *span_property("CombiningClassRangeLast", "int", [r[1] for r in ranges],
                       "The last code point of each run."),
        *span_property("CombiningClassRangeValue", "byte", [r[2] for r in ranges],
                       "The canonical combining class of each run.", per_line=16),
    ]
    path = write_generated(OUT, "make_canonical_normalization_table.py", unicodedata.unidata_version,
                           "The Unicode data behind <see cref=\"CanonicalComposition\"/> (Hangul syllables excepted).",
                           "CanonicalNormalizationTable", body)
    print(f"{path}: {len(decomposed)} mappings, {len(exclusions)} exclusions, {len(ranges)} combining-class runs")


if __name__ == "__main__":
    main()
