#!/usr/bin/env bash
# tools/gpu/pack.sh: builds everything tools/gpu/check.sh needs on a GPU machine that has no .NET into one archive,
# gpu-check.tgz at the repository root (git-ignored), and prints the device call that runs it. Runs here and in CI
# (tests/MedClip.Tests/Tools/GpuCheckPackTests.cs). See docs/gpu-check.md.
#
# The archive holds gpu-check/cli (the self-contained, trimmed console with its linux-x64 native libraries and the CUDA
# emulator, which is loaded only under MEDCLIP_CUDA=emulator), gpu-check/bench (the CUDA kernel benchmarks, partially
# trimmed because BenchmarkDotNet reflects over them) and gpu-check/PACKED (commit and date). Everything else check.sh
# reads (the reference scripts, the pretrained fixtures) travels with the working tree.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
archive="${PACK_ARCHIVE:-$root/gpu-check.tgz}"
max_bytes=$((40 * 1024 * 1024))
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$stage/gpu-check"

# publish NAME ARGS...: one dotnet publish, its log shown only when it fails.
publish() {
    local name=$1
    shift
    echo "pack.sh: publishing $name" >&2
    if ! dotnet publish "$@" >"$stage/$name.log" 2>&1; then
        grep -E "error|Error" "$stage/$name.log" | sort -u | head -n 20 >&2
        echo "pack.sh: publishing $name failed (the lines above)." >&2
        exit 1
    fi
}

# The console exactly as docs/gpu-check.md publishes it.
publish cli "$root/src/MedClip.Cli" -c Release -r linux-x64 -o "$root/publish/linux-x64"
cp -a "$root/publish/linux-x64" "$stage/gpu-check/cli"
rm -f "$stage/gpu-check/cli/"*.pdb

emulator="$root/tests/cuda-emulator/build/libmedclip_cuda_emulator.so"
if [[ ! -f "$emulator" ]]; then
    echo "pack.sh: building the CUDA emulator" >&2
    cmake -S "$root/tests/cuda-emulator" -B "$root/tests/cuda-emulator/build" -DCMAKE_BUILD_TYPE=Release -DMEDCLIP_EMULATOR_TESTS=OFF >/dev/null
    cmake --build "$root/tests/cuda-emulator/build" --target medclip_cuda_emulator -j"$(nproc)" >/dev/null
fi
cp "$emulator" "$stage/gpu-check/cli/"

publish bench "$root/benchmarks/MedClip.Benchmarks" -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial \
    -p:SuppressTrimAnalysisWarnings=true -p:SatelliteResourceLanguages=en -o "$root/publish/bench-linux-x64"
cp -a "$root/publish/bench-linux-x64" "$stage/gpu-check/bench"
# What the kernel benchmarks never load, 22 MB: the plotting libraries (no plots), BenchmarkDotNet's disassembler
# (no DisassemblyDiagnoser) and the runtime's debugger interfaces.
rm -f "$stage/gpu-check/bench/"{libSkiaSharp.so,libHarfBuzzSharp.so,libcapstone.so,libmscordaccore.so,libmscordbi.so} "$stage/gpu-check/bench/"*.pdb

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " with uncommitted changes" || true)"
printf 'commit %s%s\npacked %s\n' "$commit" "$dirty" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$stage/gpu-check/PACKED"

# tar keeps the executable bits; gzip -9 because every MiB counts against the 64 MiB that travel.
tar -C "$stage" -cf - gpu-check | gzip -9 >"$archive.tmp"
mv "$archive.tmp" "$archive"
bytes=$(stat -c %s "$archive")
if (( bytes > max_bytes )); then
    echo "pack.sh: $archive is $bytes bytes, over the 40 MiB ($max_bytes bytes) it may have; see docs/gpu-check.md." >&2
    exit 1
fi
relative="${archive#"$root"/}"
budget="${CHECK_BUDGET_S:-480}"
cat <<EOF
pack.sh: $relative, $bytes bytes ($(awk "BEGIN { printf \"%.1f\", $bytes / 1048576 }") MiB), commit $commit$dirty
device call:
  command:   CHECK_ARCHIVE=$relative CHECK_BUDGET_S=$budget tools/gpu/check.sh
  carry:     ["$relative"]
  timeout_s: $((budget + 75))
EOF
