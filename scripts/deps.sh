#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages Verani-C needs to build, test and benchmark.
# Runs apt-get as root (directly, or through sudo when not root).
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config git clang
    libwebsockets-dev libwebsockets-evlib-ev libev-dev
    libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
    re2c
    libsqlite3-dev
    redis-server libhiredis-dev
    libjansson-dev
    libcmocka-dev
    curl
    python3
    chromium
)

# chromium: the TypeScript client's browser test (tests/ts, driven by puppeteer-core from npm).
# Node and npm for the JavaScript tests and the TypeScript client (tests/js, runtime/ts; their
# npm packages come from their package-lock.json through `npm ci`). The TypeScript client
# wants Node >= 20: Debian's (18) only when none is there.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    PACKAGES+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q "${missing[@]}"
