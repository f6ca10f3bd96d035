#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run the whole suite N times (default 20), in the normal build and under
# AddressSanitizer+UBSan, with a CPU hog busy-looping beside it, and print the
# failures by test. A flaky test shows up here long before it turns CI red.
#
#   scripts/stress.sh [N]           build/ and build-asan/ (configured and built
#                                   as scripts/test.sh does, if needed)
#   STRESS_HOGS=2 scripts/stress.sh    more busy loops (default 1)
#   STRESS_DIRS="build" scripts/stress.sh   only some build trees
#
# Each round's ctest output is kept in $STRESS_LOGS (default a temp dir) as
# <tree>-<round>.log; the summary names the logs of every failure. Exits 1
# when any round failed. No test is retried.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${1:-20}"
JOBS="${JOBS:-$(nproc)}"
HOGS="${STRESS_HOGS:-1}"
DIRS="${STRESS_DIRS:-build build-asan}"
LOGS="${STRESS_LOGS:-$(mktemp -d /tmp/verani-stress.XXXXXX)}"
mkdir -p "$LOGS"

case "$ROUNDS" in ''|*[!0-9]*) echo "usage: $0 [rounds]" >&2; exit 2 ;; esac

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

build_tree() {
    local dir="$1"; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS" >/dev/null
}
for dir in $DIRS; do
    case "$dir" in
        build-asan) build_tree "$dir" -DVERANI_SANITIZE=address,undefined -DVERANI_BUILD_BENCH=OFF ;;
        *) build_tree "$dir" ;;
    esac
done

hog_pids=()
stop_hogs() {
    local p
    for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop_hogs EXIT
for _ in $(seq "$HOGS"); do
    ( while :; do :; done ) &
    hog_pids+=("$!")
done

declare -A failures=()
declare -A where=()
failed_rounds=0
start=$(date +%s)
for round in $(seq "$ROUNDS"); do
    for dir in $DIRS; do
        log="$LOGS/$dir-$round.log"
        if ctest --test-dir "$dir" --output-on-failure -j "$JOBS" >"$log" 2>&1; then
            status="ok"
        else
            status="FAILED"
            failed_rounds=$((failed_rounds + 1))
            # ctest's summary: "	 12 - name (Failed)" under "The following tests FAILED:"
            while read -r name; do
                [ -n "$name" ] || continue
                key="$dir/$name"
                failures[$key]=$(( ${failures[$key]:-0} + 1 ))
                where[$key]="${where[$key]:-} $log"
            done < <(sed -n '/The following tests FAILED:/,$p' "$log" |
                     sed -n 's/^[[:space:]]*[0-9]\+ - \([^ ]*\) .*/\1/p')
        fi
        printf '[%5ds] round %d/%d %-11s %s\n' "$(( $(date +%s) - start ))" "$round" "$ROUNDS" \
            "$dir" "$status"
    done
done

echo
echo "stress: $ROUNDS rounds x ($DIRS), $HOGS CPU hog(s), -j $JOBS, logs in $LOGS"
if [ "$failed_rounds" -eq 0 ]; then
    echo "stress: no failures"
    exit 0
fi
echo "stress: $failed_rounds failed suite runs; failures by test:"
for key in $(printf '%s\n' "${!failures[@]}" | sort); do
    printf '  %-50s %3d  %s\n' "$key" "${failures[$key]}" "${where[$key]}"
done
exit 1
