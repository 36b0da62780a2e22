"""Times torch.mm in fp32 on 2 threads at the sizes of benchmarks/MedClip.Benchmarks/GemmBenchmarks.cs.

The reference for CpuGemm: prints the BLAS torch was built against (so we know it ran OpenBLAS) and one JSON line of
GFLOP/s per size, each the median of many timed runs after a warm-up. Run: /usr/bin/python3 tools/reference/torch_gemm_bench.py
"""
import json
import os
import statistics
import time

THREADS = 2
# Debian's torch is built with BLAS_INFO=generic, so set_num_threads may not reach OpenBLAS: pin it before loading.
os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)

import torch  # noqa: E402 (after the environment is set)

SIZES = (256, 512, 1024)
WARMUP_SECONDS = 0.5
TIMED_SECONDS = 3.0


def median_seconds(a, b, out):
    deadline = time.perf_counter() + WARMUP_SECONDS
    while time.perf_counter() < deadline:
        torch.mm(a, b, out=out)
    times = []
    deadline = time.perf_counter() + TIMED_SECONDS
    while time.perf_counter() < deadline or len(times) < 20:
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)


def loaded_blas_libraries():
    """The BLAS shared objects mapped into this process: BLAS_INFO=generic only says "whatever libblas.so.3 is"."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line.lower()}
    return sorted(os.path.realpath(path) for path in paths)


def main():
    torch.set_num_threads(THREADS)
    blas = [line.strip() for line in torch.__config__.show().splitlines() if "BLAS" in line]
    print("\n".join(blas))
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))
    print("loaded:", ", ".join(loaded_blas_libraries()))
    torch.manual_seed(0)
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "gflops": {}, "runs": {}}
    for n in SIZES:
        a, b = torch.randn(n, n), torch.randn(n, n)
        out = torch.empty(n, n)
        seconds, runs = median_seconds(a, b, out)
        results["gflops"][str(n)] = round(2 * n**3 / seconds / 1e9, 1)
        results["runs"][str(n)] = runs
    print(json.dumps(results))


if __name__ == "__main__":
    main()
