#!/usr/bin/env python3
"""Checks MedClip's hand-written CUDA bindings against NVIDIA's own headers, on a machine without a GPU.

    python3 tools/cuda/check_bindings.py --include /usr/local/cuda/include [--include DIR ...]
    python3 tools/cuda/check_bindings.py --resolve PROBE.json   # or - for stdin

Reads every [LibraryImport] declaration and constant of the driver, NVRTC, cuBLAS (and, when nccl.h is found, NCCL)
bindings in src/MedClip, generates a C++ program that includes cuda.h, nvrtc.h, cublas_v2.h and library_types.h,
compiles it with g++ and runs it. For each function it compares the C# signature with the header's, parameter by
parameter: size, pointer or not, floating point or not, and what an out/ref parameter points to; for each constant,
the C# value with the header's enumerator. Prints one line per mismatch and exits 1 if there is any.

With --resolve it reads the JSON line of `medclip-train probe` instead (the files the driver, NVRTC and cuBLAS were
loaded from) and checks that each of those libraries exports every function bound to it, as one JSON line.

The headers need not match the driver the program will meet: these enum values and signatures are part of CUDA's
stable ABI. Debian ships CUDA 11.8's headers in nvidia-cuda-dev (non-free; 12.5's in experimental); without installing it:
    apt-get download nvidia-cuda-dev && dpkg-deb -x nvidia-cuda-dev_*.deb x   # then --include x/usr/include
CUDA 12's cuda_fp16.h includes <nv/target>, which that package lacks: copy CCCL's libcudacxx/include/nv beside them.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

BINDINGS = {
    # C# file: the headers that declare what it binds.
    "src/MedClip/Backends/Cuda/Native/CudaDriver.cs": ["cuda.h"],
    "src/MedClip/Backends/Cuda/Native/Nvrtc.cs": ["nvrtc.h"],
    "src/MedClip/Backends/Cuda/Native/Cublas.cs": ["cublas_v2.h", "library_types.h"],
    "src/MedClip/Distributed/Nccl/NcclNative.cs": ["nccl.h"],
}

# C# constant -> the header's name for it.
CONSTANTS = {
    "CudaDriver.CUDA_ERROR_OUT_OF_MEMORY": "CUDA_ERROR_OUT_OF_MEMORY",
    "CudaDriver.MaxThreadsPerBlock": "CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK",
    "CudaDriver.MaxSharedMemoryPerBlock": "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK",
    "CudaDriver.WarpSize": "CU_DEVICE_ATTRIBUTE_WARP_SIZE",
    "CudaDriver.MultiprocessorCount": "CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT",
    "CudaDriver.ComputeCapabilityMajor": "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR",
    "CudaDriver.ComputeCapabilityMinor": "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR",
    "CudaDriver.MaxSharedMemoryPerBlockOptin": "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN",
    "CudaDriver.FuncAttributeMaxDynamicSharedSizeBytes": "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES",
    "Nvrtc.NVRTC_ERROR_COMPILATION": "NVRTC_ERROR_COMPILATION",
    "Cublas.OpN": "CUBLAS_OP_N",
    "Cublas.OpT": "CUBLAS_OP_T",
    "Cublas.DefaultMath": "CUBLAS_DEFAULT_MATH",
    "Cublas.R32F": "CUDA_R_32F",
    "Cublas.R64F": "CUDA_R_64F",
    "Cublas.R16BF": "CUDA_R_16BF",
    "Cublas.Compute32F": "CUBLAS_COMPUTE_32F",
    "Cublas.Compute32FFastTf32": "CUBLAS_COMPUTE_32F_FAST_TF32",
    "Cublas.Compute64F": "CUBLAS_COMPUTE_64F",
    "Cublas.GemmDefault": "CUBLAS_GEMM_DEFAULT",
    "NcclNative.Int32": "ncclInt32",
    "NcclNative.Float32": "ncclFloat32",
    "NcclNative.Float64": "ncclFloat64",
    "NcclNative.Sum": "ncclSum",
    "NcclNative.InProgress": "ncclInProgress",
    "NcclUniqueId.Size": "NCCL_UNIQUE_ID_BYTES",
}

# Result codes the C# code compares against by number (file: literal -> header name).
LITERALS = {
    "src/MedClip/Backends/Cuda/CudaDevice.cs": {r"init == 100\b": ("100", "CUDA_ERROR_NO_DEVICE")},
}

# C# value types: (size, floating). An 8-byte integer is passed as a pointer is (x86-64: an INTEGER-class word), so
# nint, nuint, long and ulong stand for handles, size_t, device pointers (CUdeviceptr or cuBLAS's void*) and strides alike.
VALUE_TYPES = {"int": (4, False), "uint": (4, False), "long": (8, False), "ulong": (8, False), "float": (4, True),
               "double": (8, True), "byte": (1, False), "nint": (8, False), "nuint": (8, False), "NcclUniqueId": (128, False)}

DECLARATION = re.compile(r"\[LibraryImport\([^\]]*\)\]\s*public static partial ([\w*]+) (\w+)\(([^)]*)\);", re.S)
CONSTANT_LINE = re.compile(r"public const int ([^;]+);")


def expected_parameter(text):
    """A C# parameter (or return) type as C++ checks: (kind, size, floating, pointee size or None for any)."""
    text = " ".join(text.split())
    words = text.split(" ")
    modifier = words[0] if words[0] in ("out", "ref", "in") else None
    type_name = words[1] if modifier else words[0]
    if modifier:
        base = type_name.rstrip("*")
        pointee = 8 if type_name.endswith("*") else VALUE_TYPES[base][0]
        return ("pointer", 8, False, pointee)
    if type_name == "string":
        return ("pointer", 8, False, 1)
    if type_name.endswith("*"):
        base = type_name[:-1]
        if base.endswith("*"):
            return ("pointer", 8, False, 8)
        return ("pointer", 8, False, None if base == "void" else VALUE_TYPES[base][0])
    size, floating = VALUE_TYPES[type_name]
    return ("word" if size == 8 and not floating else "value", size, bool(floating), None)


def parse_bindings(path):
    source = open(os.path.join(ROOT, path), encoding="utf-8").read()
    functions = []
    for return_type, name, parameters in DECLARATION.findall(source):
        parts = [p.strip() for p in parameters.split(",") if p.strip()]
        # Drop the parameter names.
        types = [" ".join(p.split(" ")[:-1]) for p in parts]
        functions.append((name, [expected_parameter(return_type)] + [expected_parameter(t) for t in types], [return_type] + parts))
    constants = {}
    class_name = None
    for line in source.splitlines():
        if m := re.search(r"(?:class|struct) (\w+)", line):
            class_name = m.group(1)
        if m := CONSTANT_LINE.search(line):
            for assignment in m.group(1).split(","):
                name, value = (s.strip() for s in assignment.split("="))
                constants[f"{class_name}.{name}"] = int(value)
    return functions, constants


PRELUDE = r"""
#include <cstddef>
#include <cstdio>
#include <type_traits>
#include <vector>
template <class T, class = void> struct complete : std::false_type {};
template <class T> struct complete<T, std::void_t<decltype(sizeof(T))>> : std::true_type {};
struct Param { const char* kind; size_t size; bool floating; long pointee; };
template <class T> Param describe() {
    if constexpr (std::is_pointer_v<T>) {
        using P = std::remove_cv_t<std::remove_pointer_t<T>>;
        long pointee = -1;
        if constexpr (std::is_void_v<P>) pointee = 0;
        else if constexpr (complete<P>::value) pointee = (long)sizeof(P);
        return {"pointer", sizeof(T), false, pointee};
    } else {
        return {"value", sizeof(T), std::is_floating_point_v<T>, -1};
    }
}
template <class R, class... A> std::vector<Param> signature(R (*)(A...)) { return {describe<R>(), describe<A>()...}; }
static int failures = 0;
static void check_function(const char* name, std::vector<Param> actual, std::vector<Param> expected, const char* csharp) {
    if (actual.size() != expected.size()) {
        std::printf("MISMATCH %s: the header has %zu parameters, the binding %zu (%s)\n", name, actual.size() - 1, expected.size() - 1, csharp);
        failures++;
        return;
    }
    for (size_t i = 0; i < actual.size(); i++) {
        const Param& a = actual[i]; const Param& e = expected[i];
        bool kind_ok = std::string_view(e.kind) == "word" ? a.size == 8 && !a.floating : std::string_view(e.kind) == std::string_view(a.kind);
        bool ok = kind_ok && a.size == e.size && a.floating == e.floating && (e.pointee < 0 || a.pointee < 0 || a.pointee == e.pointee);
        if (!ok) {
            std::printf("MISMATCH %s %s %zu: header %s of %zu bytes%s (points to %ld), binding %s of %zu bytes%s (points to %ld)\n", name,
                i == 0 ? "return" : "parameter", i, a.kind, a.size, a.floating ? " floating" : "", a.pointee, e.kind, e.size,
                e.floating ? " floating" : "", e.pointee);
            failures++;
        }
    }
}
static void check_constant(const char* csharp, long binding, const char* header, long value) {
    if (binding != value) { std::printf("MISMATCH %s = %ld, header %s = %ld\n", csharp, binding, header, value); failures++; }
}
#include <string_view>
"""


def without_cplusplus_overloads(folders, work):
    """A copy of cublas_api.h without the C++-only inline overloads CUDA 11 adds (cublasGemmEx taking a cudaDataType
    compute type, for instance), so that each name is the exported C function; other headers are used as they are."""
    for folder in folders:
        path = os.path.join(folder, "cublas_api.h")
        if not os.path.exists(path):
            continue
        text = open(path, encoding="utf-8").read()
        patched = re.sub(r"#if defined\(__cplusplus\)\n}\n\s*static inline.*?#endif /\* __cplusplus \*/",
                         "#if defined(__cplusplus)\n}\n#endif", text, flags=re.S)
        if patched != text:
            # cublas_v2.h includes "cublas_api.h" from its own folder first, so it moves beside the copy.
            with open(os.path.join(work, "cublas_api.h"), "w", encoding="utf-8") as f:
                f.write(patched)
            shutil.copy(os.path.join(folder, "cublas_v2.h"), work)
        return


# The probe's JSON field naming the library each binding file is resolved against (NCCL is not probed).
PROBED_LIBRARIES = {
    "src/MedClip/Backends/Cuda/Native/CudaDriver.cs": "driver_library",
    "src/MedClip/Backends/Cuda/Native/Nvrtc.cs": "nvrtc_library",
    "src/MedClip/Backends/Cuda/Native/Cublas.cs": "cublas_library",
}


def resolve(probe_path):
    import ctypes
    import json
    probe = json.loads((sys.stdin if probe_path == "-" else open(probe_path)).read().strip().splitlines()[-1])
    result = {"resolved": 0, "missing": []}
    for path, field in PROBED_LIBRARIES.items():
        library = ctypes.CDLL(probe[field], mode=ctypes.RTLD_GLOBAL)
        for name, _, _ in parse_bindings(path)[0]:
            if hasattr(library, name):
                result["resolved"] += 1
            else:
                result["missing"].append(f"{name} ({probe[field]})")
    print(json.dumps(result))
    return 1 if result["missing"] or result["resolved"] == 0 else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--include", action="append", help="a folder holding cuda.h, nvrtc.h, cublas_v2.h (and nccl.h)")
    parser.add_argument("--resolve", metavar="PROBE_JSON", help="check the probed libraries' exports instead of the headers")
    args = parser.parse_args()
    if args.resolve:
        return resolve(args.resolve)
    if not args.include:
        parser.error("give --include folders (the CUDA headers) or --resolve")

    def found(header):
        return any(os.path.exists(os.path.join(folder, header)) for folder in args.include)

    lines = ["#include <string_view>"]
    body = []
    checked_functions = checked_constants = 0
    skipped = []
    for path, headers in BINDINGS.items():
        missing = [h for h in headers if not found(h)]
        if missing:
            skipped.append(f"{os.path.basename(path)} ({', '.join(missing)} not found)")
            continue
        lines += [f"#include <{h}>" for h in headers]
        functions, constants = parse_bindings(path)
        for name, expected, csharp in functions:
            params = ", ".join("Param{\"%s\", %d, %s, %d}" % (kind, size, "true" if floating else "false", -1 if pointee is None else pointee)
                               for kind, size, floating, pointee in expected)
            text = " ".join(csharp).replace('"', "'")
            # decltype keeps the function unreferenced (nothing to link); a macro of that name means the header redirects
            # the call to another symbol (cuMemAlloc -> cuMemAlloc_v2), which the binding must then name itself.
            body.append(f'#if defined({name})\n    std::printf("MISMATCH {name}: the header redirects it to another symbol\\n"); failures++;\n#endif')
            body.append(f'    check_function("{name}", signature(static_cast<decltype(&{name})>(nullptr)), {{{params}}}, "{text}");')
            checked_functions += 1
        for key, value in constants.items():
            if key not in CONSTANTS:
                print(f"no header name is known for the constant {key} of {path}: add it to CONSTANTS", file=sys.stderr)
                return 2
            body.append(f'    check_constant("{key}", {value}L, "{CONSTANTS[key]}", (long){CONSTANTS[key]});')
            checked_constants += 1
    for path, patterns in LITERALS.items():
        source = open(os.path.join(ROOT, path), encoding="utf-8").read()
        for pattern, (value, header_name) in patterns.items():
            if not re.search(pattern, source):
                print(f"{path} no longer has {pattern}: update LITERALS", file=sys.stderr)
                return 2
            body.append(f'    check_constant("{os.path.basename(path)}: {value}", {value}L, "{header_name}", (long){header_name});')
            checked_constants += 1

    program = "\n".join(lines) + PRELUDE + "int main() {\n" + "\n".join(body) + "\n    return failures == 0 ? 0 : 1;\n}\n"
    with tempfile.TemporaryDirectory() as work:
        source_path, binary = os.path.join(work, "check.cpp"), os.path.join(work, "check")
        with open(source_path, "w") as f:
            f.write(program)
        without_cplusplus_overloads(args.include, work)
        includes = [f"-I{folder}" for folder in [work, *args.include]]
        compiled = subprocess.run(["g++", "-std=c++17", "-w", *includes, source_path, "-o", binary], capture_output=True, text=True)
        if compiled.returncode != 0:
            print(compiled.stderr, file=sys.stderr)
            return 2
        run = subprocess.run([binary], capture_output=True, text=True)
    print(run.stdout, end="")
    for what in skipped:
        print(f"skipped {what}")
    verdict = "all match" if run.returncode == 0 else "MISMATCHES above"
    print(f"check_bindings: {checked_functions} functions and {checked_constants} constants against the headers: {verdict}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
