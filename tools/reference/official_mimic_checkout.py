"""Loads MIT-LCP/mimic-cxr's txt/ scripts from a checkout given on the command line, and names its commit.

The official code is read where it lies and never copied into MedClip. create_section_files.py imports tqdm
for its progress bar only; where tqdm is not installed a pass-through stand-in is registered.
"""

import importlib.util
import os
import subprocess
import sys
import types


def commit_of(checkout, given):
    """The commit given on the command line, else the checkout's HEAD (a git work tree)."""
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", checkout, "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"{checkout} is not a git work tree; pass --commit with the MIT-LCP/mimic-cxr commit it holds.")


def load(checkout):
    """The modules section_parser and create_section_files from CHECKOUT/txt."""
    txt = os.path.join(checkout, "txt")
    if not os.path.isfile(os.path.join(txt, "section_parser.py")):
        sys.exit(f"{checkout} has no txt/section_parser.py; give the root of a MIT-LCP/mimic-cxr checkout.")
    try:
        import tqdm  # noqa: F401
    except ImportError:
        sys.modules["tqdm"] = types.SimpleNamespace(tqdm=lambda iterable, *args, **kwargs: iterable)
    sys.path.insert(0, txt)
    modules = []
    for name in ("section_parser", "create_section_files"):
        spec = importlib.util.spec_from_file_location(name, os.path.join(txt, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules
