#!/usr/bin/env bash
# Source this before building or testing with `--features cuda`:
#
#   source backend-cuda/tools/cuda-env.sh
#
# Linking: the cust crate looks for lib64/libcuda.so under CUDA_LIBRARY_PATH (or
# /usr/local/cuda). Where no CUDA toolkit is installed, the stub driver of stub-libcuda.sh
# (built into target/cuda-stub) is linked instead; its soname is the driver's, libcuda.so.1.
# Running: the real driver is used when a libcuda.so.1 loads; only when none does is the stub
# put on LD_LIBRARY_PATH, so that tests find no device and skip.
_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_stub="$_here/target/cuda-stub"
if [ -z "${CUDA_LIBRARY_PATH:-}" ] && [ ! -e /usr/local/cuda/lib64/libcuda.so ] &&
   [ ! -e /usr/local/cuda/lib64/stubs/libcuda.so ]; then
    [ -e "$_stub/lib64/libcuda.so" ] || "$_here/backend-cuda/tools/stub-libcuda.sh" "$_stub" >&2
    export CUDA_LIBRARY_PATH="$_stub"
fi
if python3 -c 'import ctypes; ctypes.CDLL("libcuda.so.1")' 2>/dev/null; then
    echo "cuda-env: the real driver libcuda.so.1 loads" >&2
else
    [ -e "$_stub/lib64/libcuda.so.1" ] || "$_here/backend-cuda/tools/stub-libcuda.sh" "$_stub" >&2
    export LD_LIBRARY_PATH="$_stub/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "cuda-env: no driver loads; using the stub (tests will find no device)" >&2
fi
unset _here _stub
