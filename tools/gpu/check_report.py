#!/usr/bin/env python3
"""Turns tools/gpu/check.sh's step table and logs into OUT/report.json (every figure, each step's status, exit code and
seconds) and OUT/summary.txt (one line per step, then the comparisons). Standard library only.

    check_report.py --steps STEPS.tsv --logs DIR --out DIR --budget S --seconds S
"""
import argparse
import csv
import datetime
import json
import os
import re


def json_lines(text):
    """Every line of a log that parses as a JSON object, in order."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def step_figures(name, text):
    """What a step's log says, by the kind of step."""
    objects = json_lines(text)
    figures = {}
    if name == "probe":
        figures["libraries"] = next((o for o in objects if "driver_library" in o), None)
        figures["symbols"] = next((o for o in objects if "resolved" in o), None)
    elif name.startswith("selftest") or name.startswith("sanitizer"):
        lines = text.splitlines()
        figures["passed"] = sum(line.startswith("ok ") for line in lines)
        figures["failed"] = [line for line in lines if line.startswith("FAIL")][:50]
        summary = [line for line in lines if "ERROR SUMMARY" in line or line.startswith("selftest ")]
        if summary:
            figures["summary"] = summary[-1].strip()
    elif name == "kernel-bench":
        figures["ceilings"] = next((o["ceilings"] for o in objects if "ceilings" in o), None)
        figures["table"] = [line for line in text.splitlines() if line.startswith("|")]
        figures["note"] = next((line for line in text.splitlines() if line.startswith("No CUDA device")), None)
    elif objects:
        figures["result"] = objects[-1]
    return figures


# Our bench step against PyTorch's at the same settings: (ours, theirs).
PAIRS = [("bench-bf16", "torch-bf16-eager"), ("bench-bf16-fused", "torch-bf16-eager"), ("bench-fp32", "torch-fp32-eager"),
         ("bench-tf32", "torch-tf32-eager"), ("bench-bf16", "torch-bf16-compiled"), ("bench-bf16-fused", "torch-bf16-compiled")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", required=True)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--budget", type=int, required=True)
    parser.add_argument("--seconds", type=int, required=True)
    args = parser.parse_args()

    def read(name):
        path = os.path.join(args.logs, name)
        return open(path, errors="replace").read() if os.path.exists(path) else ""

    steps = []
    with open(args.steps) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            entry = {
                "name": row["step"],
                "status": row["status"],
                "rc": int(row["rc"]) if row["rc"] else None,
                "seconds": int(row["seconds"]),
                "limit_s": int(row["limit_s"]) if row["limit_s"] else None,
            }
            if row["note"]:
                entry["note"] = row["note"]
            if row["status"] in ("ran", "timeout"):
                log = read(row["step"] + ".log")
                entry.update(step_figures(row["step"], log))
                entry["log_tail"] = log.strip().splitlines()[-5:]
            steps.append(entry)
    by_name = {s["name"]: s for s in steps}

    comparisons = {}
    for ours, theirs in PAIRS:
        mine = (by_name.get(ours) or {}).get("result") or {}
        other = (by_name.get(theirs) or {}).get("result") or {}
        if mine.get("step_ms") and other.get("step_ms"):
            entry = {"torch_step_ms_over_ours": round(other["step_ms"] / mine["step_ms"], 3)}
            if mine.get("reserved_mib") and other.get("reserved_mib"):
                entry["our_reserved_over_torch"] = round(mine["reserved_mib"] / other["reserved_mib"], 3)
            comparisons[f"{ours} vs {theirs}"] = entry

    packed = read("PACKED").strip().splitlines()
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "packed": packed,
        "emulator": os.environ.get("MEDCLIP_CUDA") == "emulator",
        "budget_s": args.budget,
        "seconds": args.seconds,
        "steps": steps,
        "comparisons": comparisons,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)

    lines = [f"gpu check: {args.seconds} s of a {args.budget} s budget; {' / '.join(packed) or 'no PACKED file'}"]
    for s in steps:
        figure = ""
        if s.get("result"):
            r = s["result"]
            figure = ", ".join(f"{k} {r[k]}" for k in ("step_ms", "images_per_s", "tflops", "mfu", "reserved_mib") if k in r)
        elif s.get("libraries"):
            lib = s["libraries"]
            figure = f"{lib.get('device')} {lib.get('architecture')}, driver {lib.get('driver_version')}, NVRTC {lib.get('nvrtc_version')}, " \
                     f"{os.path.basename(lib.get('cublas_library', ''))}; symbols {s.get('symbols')}"
        elif "summary" in s:
            figure = s["summary"]
        elif s.get("ceilings"):
            figure = f"ceilings {s['ceilings']}, {len(s['table'])} table rows"
        elif s.get("note"):
            figure = s["note"]
        rc = "" if s["rc"] is None else f" rc {s['rc']}"
        lines.append(f"{s['name']:<22} {s['status']:<8}{rc:<7} {s['seconds']:>4} s  {figure}".rstrip())
    for key, value in comparisons.items():
        lines.append(f"{key}: {value}")
    with open(os.path.join(args.out, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
