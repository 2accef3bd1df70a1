#!/usr/bin/env bash
# The checks that need a GPU, in one run of under 8 minutes, ending with a short table:
#   1. the CUDA test suites (the shared kernel suite, the gradient properties to second order,
#      the whole-model checks against the CPU) with every skip turned into a failure;
#   2. kernel throughput: GEMM 4096^3 f32 and the three convolutions of a 3x3 layer;
#   3. `dualscore bench --device cuda`: a training step of the small, mid and paper presets;
#   4. a 2-minute `dualscore train --device cuda` of the paper preset on random 64x64 images.
#
#   backend-cuda/gpu-check.sh                  # build here (needs cargo and the crates), then check
#   backend-cuda/gpu-check.sh --pack DIR       # build the binaries into DIR (on a machine with
#                                              # cargo and network; no GPU needed), then stop
#   backend-cuda/gpu-check.sh --prebuilt DIR   # check with the binaries of --pack (a GPU machine
#                                              # without cargo or network)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=build dir=""
case "${1:-}" in
--pack) mode=pack dir=${2:?--pack DIR} ;;
--prebuilt) mode=prebuilt dir=${2:?--prebuilt DIR} ;;
"") ;;
*) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac

build_into() { # $1: folder for the binaries
    mkdir -p "$1/tests"
    # shellcheck disable=SC1091
    source backend-cuda/tools/cuda-env.sh
    cargo build --release -p dualscore --features cuda || exit 1
    cargo build --release -p dualscore-cuda --features cuda --example kernel_bench || exit 1
    cp target/release/dualscore target/release/examples/kernel_bench "$1/"
    for package in dualscore-cuda "dualscore --test device"; do
        # shellcheck disable=SC2086
        cargo test -p $package --features cuda --profile checked --no-run \
            --message-format=json 2>/dev/null |
            python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' | while read -r exe; do cp "$exe" "$1/tests/"; done
    done
    # Without symbols the binaries fit in what a GPU machine's session carries.
    strip "$1"/dualscore "$1"/kernel_bench "$1"/tests/*
}

case $mode in
pack) build_into "$dir"; echo "binaries in $dir: carry it and run gpu-check.sh --prebuilt $dir"; exit 0 ;;
build) dir=target/gpu-check; build_into "$dir" ;;
prebuilt) ;;
esac

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
log=$(mktemp -d)
started=$(date +%s)

echo "== 1. CUDA suites (DUALSCORE_REQUIRE_GPU=1: a skip is a failure)"
passed=0 failed=0 ran=0
for exe in "$dir"/tests/*; do
    DUALSCORE_REQUIRE_GPU=1 timeout 300 "$exe" >"$log/$(basename "$exe").log" 2>&1
    status=$?
    p=$(grep -oE '[0-9]+ passed' "$log/$(basename "$exe").log" | awk '{s+=$1} END {print s+0}')
    f=$(grep -oE '[0-9]+ failed' "$log/$(basename "$exe").log" | awk '{s+=$1} END {print s+0}')
    r=$(grep -oE 'CUDA device tests: [0-9]+ ran' "$log/$(basename "$exe").log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + p)) failed=$((failed + f)) ran=$((ran + r))
    [ $status = 0 ] || { failed=$((failed + (f == 0))); grep -E 'panicked|FAILED|error' "$log/$(basename "$exe").log" | head -20; }
done

echo "== 2. kernels"
timeout 120 "$dir/kernel_bench" cuda 4096 128 | tee "$log/kernels.txt"
kernels=$(tail -1 "$log/kernels.txt")

echo "== 3. training steps (dualscore bench)"
bench() { # preset batch
    timeout 120 "$dir/dualscore" bench --device cuda --preset "$1" --batch "$2" --steps 10 --warmup 3 --json 2>"$log/bench-$1.err" | tail -1
}
small=$(bench small 32) mid=$(bench mid 32) paper=$(bench paper 128)

echo "== 4. two minutes of training, paper preset, random 64x64 images"
python3 - "$log/random64.npy" <<'PY'
import random, struct, sys
n, side = 512, 64
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 1, %d, %d), }" % (n, side, side)
header += " " * (63 - (len(header) + 10) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    rng = random.Random(0)
    f.write(struct.pack("<%df" % (n * side * side), *(rng.random() for _ in range(n * side * side))))
PY
timeout 200 "$dir/dualscore" train --device cuda --preset paper --train "$log/random64.npy" \
    --minutes 2 --out "$log/train" --json >"$log/train.out" 2>"$log/train.err"
train_status=$?
train=$(tail -1 "$log/train.out")

field() { python3 -c 'import json,sys
try:
    d = json.loads(sys.argv[1]); d = d.get("result", d)
    for k in sys.argv[2].split("."): d = d[k]
    print(round(d, 3) if isinstance(d, float) else d)
except Exception: print("-")' "$1" "$2"; }

echo
echo "| check | result |"
echo "|---|---|"
echo "| suites | $passed passed, $failed failed, $ran device tests ran |"
echo "| GEMM 4096^3 f32 | $(field "$kernels" gemm_tflops) TFLOP/s |"
echo "| conv 3x3 fwd / input grad / weight grad | $(field "$kernels" conv_forward_tflops) / $(field "$kernels" conv_input_grad_tflops) / $(field "$kernels" conv_weight_grad_tflops) TFLOP/s |"
echo "| train step small (batch 32) | $(field "$small" train_step_ms) ms |"
echo "| train step mid (batch 32) | $(field "$mid" train_step_ms) ms |"
echo "| train step paper (batch 128) | $(field "$paper" train_step_ms) ms |"
echo "| train paper 2 min | exit $train_status, $(field "$train" steps_run) steps, last loss $(field "$train" last.loss) |"
echo "| wall time | $(( $(date +%s) - started )) s |"
[ "$failed" = 0 ] && [ "$ran" -gt 0 ] && [ $train_status = 0 ]
