"""Writes tests/MedClip.Tests/Fixtures/Text/unicode_normalization.txt: for every code point whose
canonical combining class is not 0, or whose NFD, NFC or uncased folding (NFD(c.lower()) without
category Mn, as Hugging Face's uncased BertTokenizer does it) is not the character itself, one line

    code point;combining class;NFD;NFC;folded

with code points in hexadecimal, separated by spaces, and one line FIRST..LAST;unassigned for each
run of code points that this Unicode version leaves unassigned. It is computed with unicodedata.normalize and
str.lower directly, not from the generated tables, so the test that reads it checks those tables and
the C# code over them against an independent implementation. Run from the repository root:

    python3 tools/reference/make_unicode_fixture.py
"""

import os
import unicodedata

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "tests", "MedClip.Tests", "Fixtures", "Text", "unicode_normalization.txt"))


def hex_code_points(text):
    return " ".join(f"{ord(c):04X}" for c in text)


def main():
    lines = [f"# Python unicodedata {unicodedata.unidata_version}: code point;combining class;NFD;NFC;folded"]
    unassigned = []
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)) == "Cn":
            if unassigned and unassigned[-1][1] == cp - 1:
                unassigned[-1][1] = cp
            else:
                unassigned.append([cp, cp])
    lines += [f"{first:04X}..{last:04X};unassigned" for first, last in unassigned]
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        ccc = unicodedata.combining(char)
        nfd, nfc = unicodedata.normalize("NFD", char), unicodedata.normalize("NFC", char)
        folded = "".join(c for c in unicodedata.normalize("NFD", char.lower()) if unicodedata.category(c) != "Mn")
        if ccc or nfd != char or nfc != char or folded != char:
            lines.append(f"{cp:04X};{ccc};{hex_code_points(nfd)};{hex_code_points(nfc)};{hex_code_points(folded)}")
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{OUT}: {len(lines) - 1 - len(unassigned)} code points, {len(unassigned)} unassigned runs")


if __name__ == "__main__":
    main()
