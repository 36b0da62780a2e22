"""Writes src/MedClip/Data/Text/mimic-cxr-section-rules.json: the data of MIT-LCP/mimic-cxr's official section
parser (txt/section_parser.py), read from a checkout of that repository:

- header_names: normalize_section_names' table of header spellings (misspellings included) to section names;
- main_sections: the names a header is searched for, in order, when it is not in that table;
- view_phrases: the phrases that make any other header a findings section;
- section_by_study, span_by_study: custom_mimic_cxr_rules(), the hand-made choices for single studies
  (the section that holds the report's conclusion, or the character span [start, end) of it).

Run once with any Python 3, from the repository root:

    python3 tools/reference/make_mimic_section_rules.py PATH/TO/mimic-cxr [--commit HASH]
"""

import argparse
import ast
import json
import os

import official_mimic_checkout as official

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "src", "MedClip", "Data", "Text", "mimic-cxr-section-rules.json"))


def literal_assignments(source, function_name):
    """The literal values assigned to plain names inside one function of the module's source."""
    tree = ast.parse(source)
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function_name)
    values = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values.setdefault(node.targets[0].id, ast.literal_eval(node.value))
            except ValueError:
                pass
    return values


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkout", help="root of a MIT-LCP/mimic-cxr checkout")
    parser.add_argument("--commit", help="its commit, when the checkout is not a git work tree")
    args = parser.parse_args()
    commit = official.commit_of(args.checkout, args.commit)
    section_parser, _ = official.load(args.checkout)

    with open(os.path.join(args.checkout, "txt", "section_parser.py")) as f:
        names = literal_assignments(f.read(), "normalize_section_names")
    section_by_study, span_by_study = section_parser.custom_mimic_cxr_rules()
    table = {
        "source": "https://github.com/MIT-LCP/mimic-cxr",
        "commit": commit,
        "files": ["txt/section_parser.py", "txt/create_section_files.py"],
        "header_names": names["frequent_sections"],
        "main_sections": names["main_sections"],
        "view_phrases": names["p_findings"],
        "section_by_study": section_by_study,
        "span_by_study": span_by_study,
    }
    with open(OUT, "w") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT} from MIT-LCP/mimic-cxr {commit}")


if __name__ == "__main__":
    main()
