#!/usr/bin/env bash
# The checked-in PTX of the CUDA kernels (backend-cuda/ptx/), made by one pinned CUDA compiler.
#
#   backend-cuda/tools/ptx.sh install      # nvcc and ptxas 13.0 into target/nvcc-venv (no GPU needed)
#   backend-cuda/tools/ptx.sh regenerate   # compile src/device/*.cu into ptx/*.ptx
#   backend-cuda/tools/ptx.sh check        # the checked-in PTX is current and ptxas accepts it for sm_90
#
# The compiler is pinned to one exact release so that the files (and their headers) change
# only when the sources do; CUDA 13 drops compute_70, and the PTX targets compute_80.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
venv=${NVCC_VENV:-$root/target/nvcc-venv}
pin="cuda-toolkit[nvcc]==13.0.3.0"
bin() { find "$venv" -path '*/nvidia/cu13/bin' -type d 2>/dev/null | head -1; }
families="elementwise reduce matmul conv layout random"

compile_all() { # $1: output folder
    local nvcc; nvcc="$(bin)/nvcc"
    [ -x "$nvcc" ] || { echo "no nvcc in $venv: run '$0 install' first" >&2; exit 1; }
    for f in $families; do
        # shellcheck disable=SC2046
        "$nvcc" $(cat "$here/tools/nvcc.flags") -I "$here/src/device" \
            "$here/src/device/$f.cu" -o "$1/$f.ptx"
    done
}

case "${1:-}" in
install)
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "$pin" "nvidia-cuda-nvcc==13.0.88"
    "$(bin)/nvcc" --version | tail -2
    ;;
regenerate)
    compile_all "$here/ptx"
    echo "regenerated $(echo $families | wc -w) files in backend-cuda/ptx"
    ;;
check)
    fresh=$(mktemp -d); trap 'rm -rf "$fresh"' EXIT
    compile_all "$fresh"
    status=0
    for f in $families; do
        if ! cmp -s "$fresh/$f.ptx" "$here/ptx/$f.ptx"; then
            echo "ptx/$f.ptx is stale: run backend-cuda/tools/ptx.sh regenerate" >&2
            status=1
        fi
        "$(bin)/ptxas" -arch=sm_90 "$here/ptx/$f.ptx" -o /dev/null
    done
    [ $status = 0 ] && echo "PTX current and accepted by ptxas for sm_90 ($families)"
    exit $status
    ;;
*)
    sed -n '2,10p' "$0" >&2; exit 2
    ;;
esac
