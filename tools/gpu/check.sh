#!/usr/bin/env bash
# tools/gpu/check.sh: the one-call device check (docs/gpu-check.md). Unpacks the archive tools/gpu/pack.sh made
# (CHECK_ARCHIVE, default gpu-check.tgz at the repository root) into a scratch folder, runs the steps below in order of
# value, each under its own time limit and all within CHECK_BUDGET_S (default 480), skipping a step whose limit no longer
# fits, and leaves three files in $OUT: summary.txt, report.json (every figure, each step's exit code and seconds) and
# logs.tgz (every log). Exit 1 if a step that ran failed.
#
# Steps: library probe (libraries, versions, one CUBIN for the card, every bound symbol resolved) -> fp32 selftest ->
# bf16 selftest (both with CUDA_LAUNCH_BLOCKING=1, so a fault names its kernel) -> the base preset's step in bf16, bf16
# with fused attention, fp32 and TF32, each beside PyTorch eager at the same settings -> the card's ceilings and the
# kernel benchmarks -> compute-sanitizer memcheck and racecheck on a short selftest -> the pretrained towers against
# transformers -> torch.compile last.
#
# MEDCLIP_CUDA=emulator runs the same steps against the CUDA emulator at toy sizes (tools/gpu/emulator-model.json, one step, the micro
# selftest model); CHECK_SKIP_TORCH=1 skips every step that needs PyTorch. CI does both
# (tests/MedClip.Tests/Tools/GpuCheckPackTests.cs).
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
archive="${CHECK_ARCHIVE:-gpu-check.tgz}"
[[ "$archive" = /* ]] || archive="$root/$archive"
out="${OUT:-$root/gpu-check-out}"
budget="${CHECK_BUDGET_S:-480}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/medclip-gpu-check.XXXXXX")"
logs="$scratch/logs"
mkdir -p "$out" "$logs"
start=$SECONDS
export MEDCLIP_CACHE="$scratch/kernel-cache" DOTNET_CLI_TELEMETRY_OPTOUT=1 PYTHONUNBUFFERED=1

if ! tar -xzf "$archive" -C "$scratch" 2>"$logs/unpack.log"; then
    echo "check.sh: could not unpack $archive (run tools/gpu/pack.sh and carry its archive): $(head -n 1 "$logs/unpack.log")" >&2
    exit 2
fi
cli="$scratch/gpu-check/cli/medclip-train"
kernel_bench="$scratch/gpu-check/bench/MedClip.Benchmarks"

# PyTorch's Python: CHECK_PYTHON, else the card's venv, else python3. Its steps run only where torch sees a GPU.
python="${CHECK_PYTHON:-$([[ -x /opt/torch/.venv/bin/python ]] && echo /opt/torch/.venv/bin/python || echo python3)}"
py3="$(command -v python3 || echo "$python")"
torch_why=""
if [[ "${CHECK_SKIP_TORCH:-0}" == 1 ]]; then
    torch_why="CHECK_SKIP_TORCH=1"
elif ! "$python" -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    torch_why="$python has no torch with CUDA"
fi

# Sizes: the base preset at its usual batch on a card; toy sizes on the emulator, which runs a CUDA thread per OS thread.
if [[ "${MEDCLIP_CUDA:-}" == emulator ]]; then
    bench_args=(--model "$root/tools/gpu/emulator-model.json" --batch-size 4 --steps 1)
    torch_args=(--model tiny --batch-size 4 --steps 1)
    selftest_args=(--model micro)
    pretrained_args=(--val-every 0)
else
    bench_args=(--model base --steps 5)
    torch_args=(--model base --steps 5)
    selftest_args=()
    pretrained_args=()
fi

printf 'step\tstatus\trc\tseconds\tlimit_s\tnote\n' >"$scratch/steps.tsv"
# step NAME LIMIT_S COMMAND...: runs COMMAND with its output in logs/NAME.log, killed after LIMIT_S; skipped when
# LIMIT_S no longer fits the budget. One row of steps.tsv either way.
step() {
    local name=$1 limit=$2 left=$(( budget - (SECONDS - start) ))
    shift 2
    if (( limit > left )); then
        printf '%s\tskipped\t\t0\t%s\t%ss of the budget left\n' "$name" "$limit" "$left" >>"$scratch/steps.tsv"
        echo "== $name: skipped, ${left}s of the budget left, ${limit}s needed"
        return
    fi
    echo "== $name (limit ${limit}s)"
    local began=$SECONDS
    timeout -k 10 "$limit" "$@" >"$logs/$name.log" 2>&1
    local rc=$? status=ran
    (( rc == 124 || rc == 137 )) && status=timeout
    printf '%s\t%s\t%s\t%s\t%s\t\n' "$name" "$status" "$rc" "$(( SECONDS - began ))" "$limit" >>"$scratch/steps.tsv"
    tail -n 2 "$logs/$name.log" | cut -c1-300
}
# not_run NAME WHY: a step that cannot run here (no PyTorch, no compute-sanitizer).
not_run() {
    printf '%s\tnot run\t\t0\t\t%s\n' "$1" "$2" >>"$scratch/steps.tsv"
    echo "== $1: not run, $2"
}
# torch_step NAME LIMIT_S ARGS...: tools/reference/torch_clip_bench.py on the card at the check's sizes.
torch_step() {
    local name=$1 limit=$2
    shift 2
    if [[ -n "$torch_why" ]]; then not_run "$name" "$torch_why"; return; fi
    step "$name" "$limit" "$python" "$root/tools/reference/torch_clip_bench.py" --device cuda "${torch_args[@]}" "$@"
}
# The library probe: the CLI's JSON line, then every bound symbol looked up in the libraries it names.
probe() {
    local json
    json="$("$cli" probe)" || { echo "$json"; return 1; }
    echo "$json"
    echo "$json" | "$py3" "$root/tools/cuda/check_bindings.py" --resolve -
}
export -f probe
export cli root py3

if command -v nvidia-smi >/dev/null; then
    step nvidia-smi 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm --format=csv
fi
step probe 90 bash -c probe
CUDA_LAUNCH_BLOCKING=1 step selftest-fp32 150 "$cli" selftest --device cuda "${selftest_args[@]}"
CUDA_LAUNCH_BLOCKING=1 step selftest-bf16 120 "$cli" selftest --device cuda --precision bf16 "${selftest_args[@]}"

step bench-bf16 75 "$cli" bench --device cuda "${bench_args[@]}" --precision bf16 --json
torch_step torch-bf16-eager 75 --precision bf16 --sdpa --fused-adamw
step bench-bf16-fused 75 "$cli" bench --device cuda "${bench_args[@]}" --precision bf16 --attention fused --json
step bench-fp32 75 "$cli" bench --device cuda "${bench_args[@]}" --json
torch_step torch-fp32-eager 75 --sdpa --fused-adamw
step bench-tf32 75 "$cli" bench --device cuda "${bench_args[@]}" --tf32 --json
torch_step torch-tf32-eager 75 --sdpa --fused-adamw --tf32

# The card's ceilings (printed first, as one JSON line) and every kernel benchmark; on the emulator one line says why not.
step kernel-bench 120 "$kernel_bench" cuda --filter '*' --job short --iterationTime 200 --artifacts "$logs/kernel-bench-artifacts"

if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
        step "sanitizer-$tool" 90 compute-sanitizer --tool "$tool" --error-exitcode 3 "$cli" selftest --device cuda --model micro
    done
else
    not_run sanitizer-memcheck "no compute-sanitizer on PATH"
    not_run sanitizer-racecheck "no compute-sanitizer on PATH"
fi

# Pretrained towers on the device: a checkpoint trained from the fixtures' towers, and its text embeddings from `embed`.
# Where transformers runs, VisionTextDualEncoderModel loads that checkpoint and must give the same embeddings.
fixtures="$root/tests/MedClip.Tests/Fixtures/Pretrained"
run="$scratch/pretrained-run"
printf 'no pleural effusion\nLung clear.\nmild cardiomegaly with left base opacity\n' >"$scratch/pretrained-texts.txt"
step pretrained-train 60 "$cli" train --data synthetic --image-encoder "$fixtures/clip" --text-encoder "$fixtures/bert" \
    --steps 2 --batch-size 8 --out "$run" --device cuda "${pretrained_args[@]}"
checkpoint="$(ls -d "$run"/checkpoint-* 2>/dev/null | tail -n 1)"
step pretrained-embed 30 "$cli" embed --checkpoint "$checkpoint" --texts "$scratch/pretrained-texts.txt" \
    --out "$scratch/pretrained-embeds.safetensors" --device cuda
if [[ -n "$torch_why" ]] || ! "$python" -c "import transformers, safetensors" >/dev/null 2>&1; then
    not_run pretrained-parity "${torch_why:-$python has no transformers and safetensors}"
else
    step pretrained-parity 60 "$python" "$root/tools/reference/check_pretrained_transformers.py" --checkpoint "$checkpoint" \
        --texts "$scratch/pretrained-texts.txt" --embeds "$scratch/pretrained-embeds.safetensors"
fi

torch_step torch-bf16-compiled 150 --precision bf16 --sdpa --fused-adamw --compile

cp "$scratch/gpu-check/PACKED" "$logs/PACKED" 2>/dev/null
"$py3" "$root/tools/gpu/check_report.py" --steps "$scratch/steps.tsv" --logs "$logs" --out "$out" --budget "$budget" \
    --seconds "$(( SECONDS - start ))"
# A log over 4 MiB keeps its last 4 MiB, so that logs.tgz stays well under the 16 MiB a returned file may have.
find "$logs" -type f -size +4M -exec sh -c 'tail -c 4194304 "$1" >"$1.tail" && mv "$1.tail" "$1"' _ {} \;
tar -C "$scratch" -czf "$out/logs.tgz" logs steps.tsv
failed="$(awk -F'\t' 'NR > 1 && ($2 == "timeout" || ($2 == "ran" && $3 != 0)) { printf "%s ", $1 }' "$scratch/steps.tsv")"
rm -rf "$scratch"
echo "check.sh: $out: $(cd "$out" && ls | tr '\n' ' ')"
# Exit 1 when a step that ran failed or ran out of time; skipped steps and those that cannot run here do not count.
if [[ -n "$failed" ]]; then
    echo "check.sh: failed: $failed" >&2
    exit 1
fi
