#!/usr/bin/env python3
"""Writes src/MedClip/Backends/Cuda/Kernels.g.cs: one typed C# handle per `extern "C" __global__` kernel in kernels/*.cu.

    /usr/bin/python3 tools/cuda/make_kernel_handles.py           # rewrite the file
    /usr/bin/python3 tools/cuda/make_kernel_handles.py --check   # exit 1 if the committed file is out of date

Each kernel file becomes a nested class of `Kernels` (layernorm.cu -> Kernels.LayernormCu) and each kernel a method
named after it (layernorm_forward_f32 -> LayernormForwardF32) whose parameters are the kernel's, typed: a pointer is a
DevicePointer, int/unsigned int/long long/unsigned long long/float/double are int/uint/long/ulong/float/double. It
returns the KernelCall that CudaBackend launches.

Kernels whose names differ only in a dtype token (f32, f64, bf16, i32) or a head-dimension token (d8, d64, ...) and
whose parameters agree (same names; the same types, or float in one and double in another) also get one family method
that takes the varying tokens first (a DType per dtype token, an int per dimension token) and calls the matching
kernel: layernorm_forward_f32/_f64 -> LayernormForward(DType dtype, ..., double eps), which passes (float)eps to the
F32 kernel. Standard library only.
"""
import argparse
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KERNELS = os.path.join(ROOT, "kernels")
OUTPUT = os.path.join(ROOT, "src", "MedClip", "Backends", "Cuda", "Kernels.g.cs")

# The same declaration pattern as the test that checks the generated file (KernelHandleTests).
DECLARATION = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
PARAMETER = re.compile(r"^(?:const\s+)?(?P<type>[A-Za-z_][\w ]*?)\s*(?P<pointer>\*)?\s*(?P<name>\w+)$")

SCALARS = {"int": "int", "unsigned int": "uint", "unsigned": "uint", "long long": "long",
           "unsigned long long": "ulong", "float": "float", "double": "double"}
DTYPES = {"f32": "DType.F32", "f64": "DType.F64", "bf16": "DType.BF16", "i32": "DType.I32"}
DIMENSION = re.compile(r"^d(\d+)$")
MAX_ARGUMENTS = 16  # KernelCall.MaxArguments
CSHARP_KEYWORDS = {"base", "checked", "decimal", "default", "event", "fixed", "in", "is", "lock", "object", "out",
                   "params", "ref", "string", "this", "value"}


class Parameter:
    def __init__(self, c_text, cs_type, name):
        self.c_text, self.cs_type, self.name = c_text, cs_type, name


class Kernel:
    def __init__(self, file, name, parameters):
        self.file, self.name, self.parameters = file, name, parameters

    @property
    def method(self):
        return pascal(self.name.split("_"))

    @property
    def c_signature(self):
        return f"{self.name}({', '.join(p.c_text for p in self.parameters)})"


def pascal(tokens):
    return "".join(t[:1].upper() + t[1:] for t in tokens)


def class_name(file):
    """layernorm.cu -> LayernormCu: the file's name, which no kernel or family method takes."""
    return pascal(file.replace(".", "_").split("_"))


def camel(c_name):
    parts = c_name.split("_")
    name = parts[0] + pascal(p for p in parts[1:])
    return "@" + name if name in CSHARP_KEYWORDS else name


def parse_parameter(file, kernel, text):
    text = " ".join(text.split())
    match = PARAMETER.match(text)
    if not match:
        sys.exit(f"kernels/{file}: {kernel}: cannot read the parameter '{text}'.")
    c_type = match["type"].strip()
    if match["pointer"]:
        return Parameter(text, "DevicePointer", camel(match["name"]))
    if c_type not in SCALARS:
        sys.exit(f"kernels/{file}: {kernel}: parameter '{text}' has type '{c_type}', which has no C# mapping "
                 f"(add it to SCALARS here and to KernelHandleTests).")
    return Parameter(text, SCALARS[c_type], camel(match["name"]))


def parse_file(file):
    with open(os.path.join(KERNELS, file), encoding="utf-8") as f:
        source = f.read()
    kernels = []
    for match in DECLARATION.finditer(source):
        name, text = match[1], match[2].strip()
        parameters = [] if text in ("", "void") else [parse_parameter(file, name, p) for p in text.split(",")]
        if len(parameters) > MAX_ARGUMENTS:
            sys.exit(f"kernels/{file}: {name} takes {len(parameters)} parameters; KernelCall holds at most {MAX_ARGUMENTS}.")
        kernels.append(Kernel(file, name, parameters))
    return kernels


def variant_tokens(name):
    """The name's tokens with dtype and dimension tokens as placeholders, and the placeholders' values in order."""
    key, values = [], []
    for token in name.split("_"):
        if token in DTYPES:
            key.append("{dtype}")
            values.append(("dtype", token))
        elif DIMENSION.match(token):
            key.append("d{dim}")
            values.append(("dim", token))
        else:
            key.append(token)
    return tuple(key), values


def compatible(first, other):
    if len(first.parameters) != len(other.parameters):
        return False
    for a, b in zip(first.parameters, other.parameters):
        if a.name != b.name:
            return False
        if a.cs_type != b.cs_type and {a.cs_type, b.cs_type} != {"float", "double"}:
            return False
    return True


class Family:
    """Kernels alike but for their dtype or dimension tokens; selectors are the tokens that vary."""

    def __init__(self, members):
        self.members = members
        _, first_values = variant_tokens(members[0].name)
        self.varying = [i for i in range(len(first_values))
                        if len({variant_tokens(m.name)[1][i][1] for m in members}) > 1]
        kinds = [first_values[i][0] for i in self.varying]
        self.selectors, seen = [], {}
        for kind in kinds:
            seen[kind] = seen.get(kind, 0) + 1
            name = kind if kinds.count(kind) == 1 else f"{kind}{seen[kind]}"
            self.selectors.append(("DType" if kind == "dtype" else "int", name))
        # The method's name keeps the tokens that do not vary; the pattern shows where each selector goes.
        tokens, pattern, placeholder = [], [], -1
        for token in members[0].name.split("_"):
            is_placeholder = token in DTYPES or DIMENSION.match(token) is not None
            placeholder += is_placeholder
            if is_placeholder and placeholder in self.varying:
                name = self.selectors[self.varying.index(placeholder)][1]
                pattern.append("{" + name + "}" if token in DTYPES else "d{" + name + "}")
            else:
                tokens.append(token)
                pattern.append(token)
        clash = {n for _, n in self.selectors} & {p.name for p in members[0].parameters}
        if clash:
            sys.exit(f"kernels/{members[0].file}: {members[0].name} has a parameter named {clash.pop()}, as a family selector is.")
        self.method = pascal(tokens)
        self.pattern = "_".join(pattern)
        self.parameters = [(("double" if {m.parameters[i].cs_type for m in members} == {"float", "double"}
                             else p.cs_type), p.name) for i, p in enumerate(members[0].parameters)]

    def case(self, member):
        values = variant_tokens(member.name)[1]
        labels = []
        for i in self.varying:
            kind, token = values[i]
            labels.append(DTYPES[token] if kind == "dtype" else DIMENSION.match(token)[1])
        return labels[0] if len(labels) == 1 else "(" + ", ".join(labels) + ")"

    def argument(self, member, index):
        cs_type, name = self.parameters[index]
        return f"(float){name}" if cs_type == "double" and member.parameters[index].cs_type == "float" else name


def families(kernels):
    groups = {}
    for kernel in kernels:
        key, values = variant_tokens(kernel.name)
        if values:
            groups.setdefault(key, []).append(kernel)
    result = []
    for members in groups.values():
        # The first kernel in source order and those alike with it; a kernel unlike it keeps only its own handle.
        alike = [members[0]] + [m for m in members[1:] if compatible(members[0], m)]
        if len(alike) > 1:
            result.append(Family(alike))
    return result


def emit_kernel(kernel, lines):
    parameters = ", ".join(f"{p.cs_type} {p.name}" for p in kernel.parameters)
    arguments = "".join(", " + p.name for p in kernel.parameters)
    lines.append(f"        /// <summary><c>{kernel.c_signature}</c></summary>")
    lines.append(f"        public static KernelCall {kernel.method}({parameters}) =>")
    lines.append(f"            new(File, \"{kernel.name}\"{arguments});")
    lines.append("")


def emit_family(family, file, lines):
    selectors = [f"{t} {n}" for t, n in family.selectors]
    parameters = ", ".join(selectors + [f"{t} {n}" for t, n in family.parameters])
    names = [n for _, n in family.selectors]
    switch_on = names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"
    members = ", ".join(f"<see cref=\"{m.method}\"/>" for m in family.members)
    lines.append(f"        /// <summary><c>{family.pattern}</c>, picked by {', '.join(names)}: {members}.</summary>")
    lines.append(f"        public static KernelCall {family.method}({parameters}) => {switch_on} switch")
    lines.append("        {")
    for member in family.members:
        arguments = ", ".join(family.argument(member, i) for i in range(len(family.parameters)))
        lines.append(f"            {family.case(member)} => {member.method}({arguments}),")
    shown = ", ".join("{" + n + "}" for n in names)
    lines.append(f"            _ => throw new NotSupportedException($\"kernels/{file} has no {family.pattern.replace('{', '{{').replace('}', '}}')} "
                 f"kernel for {shown}.\"),")
    lines.append("        };")
    lines.append("")


def generate():
    files = sorted(f for f in os.listdir(KERNELS) if f.endswith(".cu"))
    lines = [
        "// <auto-generated>",
        "// Written by tools/cuda/make_kernel_handles.py from the extern \"C\" __global__ declarations in kernels/*.cu; do not",
        "// edit. After changing a kernel's signature run: /usr/bin/python3 tools/cuda/make_kernel_handles.py",
        "// </auto-generated>",
        "using MedClip.Tensors;",
        "",
        "namespace MedClip.Backends.Cuda;",
        "",
        "/// <summary>The kernels' entry points, one typed method per kernel and one per family of dtype or head-dimension",
        "/// variants; each returns the <see cref=\"KernelCall\"/> that <see cref=\"CudaBackend\"/> launches.</summary>",
        "internal static class Kernels",
        "{",
    ]
    for file in files:
        kernels = parse_file(file)
        if not kernels:
            continue
        names = {k.method for k in kernels}
        lines.append(f"    /// <summary>The kernels of kernels/{file}.</summary>")
        lines.append(f"    internal static class {class_name(file)}")
        lines.append("    {")
        lines.append(f"        private const string File = \"{file}\";")
        lines.append("")
        for kernel in kernels:
            emit_kernel(kernel, lines)
        for family in families(kernels):
            if family.method in names:
                sys.exit(f"kernels/{file}: the family {family.pattern} would be named {family.method}, as a kernel is.")
            names.add(family.method)
            emit_family(family, file, lines)
        lines.pop()
        lines.append("    }")
        lines.append("")
    lines.pop()
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs from what would be written")
    args = parser.parse_args()
    text = generate()
    relative = os.path.relpath(OUTPUT, ROOT)
    if args.check:
        with open(OUTPUT, encoding="utf-8") as f:
            if f.read() != text:
                sys.exit(f"{relative} is out of date: run /usr/bin/python3 tools/cuda/make_kernel_handles.py")
        print(f"{relative} is up to date")
        return
    with open(OUTPUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {relative}")


if __name__ == "__main__":
    main()
