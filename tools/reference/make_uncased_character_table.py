"""Writes src/MedClip/Data/Text/UncasedCharacterTable.g.cs: what Hugging Face's uncased
BertTokenizer turns each character into, strip_accents(lower(c)) = NFD(c.lower()) without
category Mn, for every code point where that differs from the character itself. .NET's
string.Normalize is a no-op under InvariantGlobalization (which MedClip builds with) and
its invariant lower-casing leaves U+0130 alone, so the tokenizer reads this table instead.

Left out, because the C# side handles them by rule: category Mn (always dropped) and the
precomposed Hangul syllables (decomposed arithmetically, as NFD does). Run from the
repository root with any Python 3:

    python3 tools/reference/make_uncased_character_table.py
"""

import unicodedata

from csharp_spans import span_property, write_generated

OUT = "src/MedClip/Data/Text/UncasedCharacterTable.g.cs"


def fold(char):
    return "".join(c for c in unicodedata.normalize("NFD", char.lower()) if unicodedata.category(c) != "Mn")


def utf16_units(text):
    data = text.encode("utf-16-le")
    return [int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2)]


def main():
    code_points, starts, units = [], [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        char = chr(cp)
        if unicodedata.category(char) == "Mn":
            continue
        folded = fold(char)
        if folded != char:
            code_points.append(cp)
            starts.append(len(units))
            units.extend(utf16_units(folded))
    starts.append(len(units))
    assert len(units) < 0x10000
    body = [
        *span_property("FoldedCodePoints", "int", code_points,
                       "Every code point whose folded form is not itself, ascending."),
        *span_property("FoldedStarts", "ushort", starts,
                       "Where each code point's folded form starts in <see cref=\"FoldedUnits\"/>; one more entry marks the end."),
        *span_property("FoldedUnits", "ushort", units, "The folded forms, one after another, as UTF-16 code units."),
    ]
    path = write_generated(OUT, "make_uncased_character_table.py", unicodedata.unidata_version,
                           "NFD(lower(c)) without non-spacing marks, for every code point where that is not c itself "
                           "(Mn and Hangul syllables excepted; <see cref=\"UncasedCharacterFolding\"/> handles those by rule).",
                           "UncasedCharacterTable", body)
    print(f"{path}: {len(code_points)} entries, {len(units)} UTF-16 units")


if __name__ == "__main__":
    main()
