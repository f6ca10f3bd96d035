#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every test: the whole CTest suite in a normal build, then again under
# AddressSanitizer and UndefinedBehaviorSanitizer. Exits non-zero, naming the
# step, on the first failure. Build trees: build/ and build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS="${JOBS:-$(nproc)}"
# Tests run three to a core: most of their time is spent waiting on sockets, timeouts and
# child processes (the ASan suite at two at a time used 36 % of 2 cores: 231 s of wall time
# for 167 s of CPU). Long tests carry a COST, so they start first.
TEST_JOBS="${TEST_JOBS:-$((3 * $(nproc)))}"

step() { echo; echo "=== $* ==="; }
fail() { echo "FAILED: $*" >&2; exit 1; }

run_suite() {
    local dir="$1"; shift
    step "configure $dir $*"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null || fail "configure $dir"
    step "build $dir"
    cmake --build "$dir" -j "$JOBS" || fail "build $dir"
    step "ctest $dir"
    ctest --test-dir "$dir" --output-on-failure -j "$TEST_JOBS" || fail "ctest $dir"
}

run_suite build
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    run_suite build-asan -DVERANI_SANITIZE=address,undefined -DVERANI_BUILD_BENCH=OFF

echo
echo "all test suites passed"
