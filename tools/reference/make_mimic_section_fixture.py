"""Writes tests/MedClip.Tests/Fixtures/Text/mimic_sections_expected.json: what MIT-LCP/mimic-cxr's official
txt/create_section_files.py makes of the fixture reports in tests/MedClip.Tests/Fixtures/Text/mimic-reports/files
(laid out as MIMIC-CXR's files/pXX/pSUBJECT/sSTUDY.txt). The official script is run as it is, on a checkout given
on the command line; its two outputs are read back:

- mimic_cxr_sections.csv (--no_split): the final text of every study;
- mimic_cxr_sectioned.csv: impression, findings, last_paragraph, comparison of every study that the hand-made rules
  do not cover (csv writes a missing section and an empty one alike, as an empty field).

Run once with /usr/bin/python3, from the repository root:

    /usr/bin/python3 tools/reference/make_mimic_section_fixture.py PATH/TO/mimic-cxr [--commit HASH]
"""

import argparse
import contextlib
import csv
import json
import os
import sys
import tempfile

import official_mimic_checkout as official

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", "tests", "MedClip.Tests", "Fixtures", "Text"))
SECTIONS = ["impression", "findings", "last_paragraph", "comparison"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkout", help="root of a MIT-LCP/mimic-cxr checkout")
    parser.add_argument("--commit", help="its commit, when the checkout is not a git work tree")
    args = parser.parse_args()
    commit = official.commit_of(args.checkout, args.commit)
    _, create_section_files = official.load(args.checkout)

    reports = os.path.join(FIXTURES, "mimic-reports", "files")
    with tempfile.TemporaryDirectory() as out:
        with contextlib.redirect_stdout(sys.stderr):
            create_section_files.main(["--reports_path", reports, "--output_path", out, "--no_split"])
        finals = read_csv(os.path.join(out, "mimic_cxr_sections.csv"))
        sectioned = read_csv(os.path.join(out, "mimic_cxr_sectioned.csv"))

    assert sectioned[0] == ["study"] + SECTIONS, sectioned[0]
    by_study = {row[0]: dict(zip(SECTIONS, row[1:])) for row in sectioned[1:]}
    studies = {}
    for study, final in sorted(finals):
        studies[study] = {"final": final, "sections": by_study.get(study)}
    with open(os.path.join(FIXTURES, "mimic_sections_expected.json"), "w") as f:
        json.dump({"source": "https://github.com/MIT-LCP/mimic-cxr", "commit": commit,
                   "script": "txt/create_section_files.py --no_split", "python": sys.version.split()[0],
                   "studies": studies}, f, indent=1)
        f.write("\n")
    print(f"{len(studies)} studies, {len(by_study)} sectioned, from MIT-LCP/mimic-cxr {commit}")


if __name__ == "__main__":
    main()
