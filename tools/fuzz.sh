#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer), from the repository root:
#
#   tools/fuzz.sh install              cargo-fuzz from the Rust package registry (pinned version)
#   tools/fuzz.sh build                every target, as the runs below build them
#   tools/fuzz.sh run TARGET SECONDS   fuzz one target; new inputs go to fuzz/corpus/TARGET
#                                      (not committed), crashes to fuzz/artifacts/TARGET
#   tools/fuzz.sh all SECONDS          every target in turn, SECONDS each
#   tools/fuzz.sh keep TARGET          replace the committed corpus fuzz/seeds/TARGET by a smallest
#                                      set of its and fuzz/corpus/TARGET's inputs that covers the
#                                      same edges (libFuzzer's -set_cover_merge=1)
#   tools/fuzz.sh targets              the targets' names
#
# cargo-fuzz needs the unstable `-Z` flags of rustc (sanitizers, coverage). A nightly toolchain
# is used where rustup has one; otherwise the stable toolchain with RUSTC_BOOTSTRAP=1, which
# unlocks the same flags on a stable compiler. The builds are optimized with debug assertions
# and overflow checks on (`-a`), like the tests' `checked` profile, and without a sanitizer: the
# code is safe Rust, and the runs look for panics, overflows, failed assertions, timeouts and
# memory blow-ups, which need none (set FUZZ_SANITIZER=address to use AddressSanitizer).
#

# writes itself (`seeds()` in fuzz/src) are in the committed corpus too. Limits per input: 10 s
# (`-timeout`; the command_line target runs whole commands), 2048 MB of memory (`-rss_limit_mb`).
# Extra libFuzzer options can be given after SECONDS, e.g. `-jobs=2`.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
SANITIZER=${FUZZ_SANITIZER:-none}

cargo_fuzz() {
    if rustup run nightly rustc --version >/dev/null 2>&1; then
        cargo +nightly fuzz "$@"
    else
        RUSTC_BOOTSTRAP=1 cargo fuzz "$@"
    fi
}

targets() {
    (cd fuzz/fuzz_targets && for f in *.rs; do echo "${f%.rs}"; done)
}

install() {
    if cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
        return
    fi
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
}

known_target() {
    if ! targets | grep -qx "$1"; then
        echo "unknown target $1; the targets are: $(targets | tr '\n' ' ')" >&2
        exit 2
    fi
}

build() {
    cargo_fuzz build -a --sanitizer "$SANITIZER" "$@"
}

run() {
    local target=$1 seconds=$2
    shift 2
    known_target "$target"
    mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target" "fuzz/artifacts/$target"
    cargo_fuzz run -a --sanitizer "$SANITIZER" "$target" \
        "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=120 -rss_limit_mb=2048 -print_final_stats=1 "$@"
}

keep() {
    local target=$1
    known_target "$target"
    mkdir -p "fuzz/seeds/$target" "fuzz/corpus/$target"
    # A smallest set of inputs that covers every edge the committed and the new inputs cover
    # (edges only, not hit counts: the committed corpus stays small), replacing fuzz/seeds/TARGET.
    local merged
    merged=$(mktemp -d)
    cargo_fuzz run -a --sanitizer "$SANITIZER" "$target" \
        "$merged" "fuzz/seeds/$target" "fuzz/corpus/$target" -- \
        -set_cover_merge=1 -use_counters=0 -timeout=120 -rss_limit_mb=2048
    rm -rf "fuzz/seeds/$target"
    mv "$merged" "fuzz/seeds/$target"
    chmod 755 "fuzz/seeds/$target"
    echo "fuzz/seeds/$target: $(find "fuzz/seeds/$target" -type f | wc -l) files"
}

command=${1:-}
case "$command" in
    install) install ;;
    build) shift; build "$@" ;;
    targets) targets ;;
    run)
        [ $# -ge 3 ] || { echo "usage: tools/fuzz.sh run TARGET SECONDS [libFuzzer options]" >&2; exit 2; }
        shift
        run "$@"
        ;;
    all)
        [ $# -ge 2 ] || { echo "usage: tools/fuzz.sh all SECONDS [libFuzzer options]" >&2; exit 2; }
        seconds=$2
        shift 2
        for target in $(targets); do
            echo "== fuzz $target for $seconds s"
            run "$target" "$seconds" "$@"
        done
        ;;
    keep)
        [ $# -eq 2 ] || { echo "usage: tools/fuzz.sh keep TARGET" >&2; exit 2; }
        keep "$2"
        ;;
    *)
        sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
