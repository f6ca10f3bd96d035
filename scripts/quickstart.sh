#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# From a fresh Debian machine to a running demo: install the packages, build
# everything, then run the chat demo (a chat server and scripted clients
# exchanging real messages over 127.0.0.1). Prints what happened; exits 0 when
# every scripted message arrived. Then prints how to open the chat's web page.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)"
echo
echo "=== demo: examples/chat ==="
./build/examples/chat/chat_demo
echo
echo "=== the same chat in a browser ==="
echo "run:   ./build/examples/chat/chat_server --web build/examples/chat/web --db chat.db"
echo "open:  http://127.0.0.1:8080/app/   (two tabs, two names: chat, join channels, history)"
