#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The clients' decode+dispatch per received event, C against TypeScript (Node), on the same
# frames: bench/client_decode/run.sh [BUILD_DIR [EVENTS [RUNS]]] (default build, 100000, 7).
# Both programs are built with the tree (targets bench_decode_c and bench_decode_ts).
set -euo pipefail
cd "$(dirname "$0")/../.."
B="${1:-build}"
N="${2:-100000}"
R="${3:-7}"
"$B/bench/bench_decode_c" "$N" "$R"
node "$B/runtime/ts/pkg/build-tests/bench_decode_ts.mjs" "$N" "$R"
