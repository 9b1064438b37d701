#!/bin/sh
# deps.sh - installs what desk needs to build (and, with --test, to run its
# tests) on Debian/Ubuntu (apt-get) or macOS (Homebrew). Idempotent.
#
#   scripts/deps.sh          build: C compiler, make, pkg-config, PCRE2, utf8proc,
#                            libmicrohttpd and jansson (desk serve)
#   scripts/deps.sh --test   also: clang (fuzzing), python3-numpy, python3-jinja2, wrk, Node.js
#                            oracles in tests/js, and the arm64 cross toolchain + qemu
set -eu
TEST=0
[ "${1:-}" = "--test" ] && TEST=1
cd "$(dirname "$0")/.."

if command -v apt-get > /dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    PKGS="build-essential pkg-config libpcre2-dev libutf8proc-dev libmicrohttpd-dev libjansson-dev"
    if [ $TEST -eq 1 ]; then
        PKGS="$PKGS clang libclang-rt-dev python3 python3-numpy python3-jinja2 nodejs npm wrk curl
              gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
        # arm64 builds of the libraries, for the cross-compiled test run under qemu
        if ! dpkg --print-foreign-architectures | grep -q arm64; then $SUDO dpkg --add-architecture arm64; fi
        PKGS="$PKGS libpcre2-dev:arm64 libutf8proc-dev:arm64 libjansson-dev:arm64 libmicrohttpd-dev:arm64"
    fi
    missing=""
    for p in $PKGS; do dpkg -s "$p" > /dev/null 2>&1 || missing="$missing $p"; done
    # node/npm may come from outside Debian (nodesource, nvm): accept them as they are
    if command -v node > /dev/null && command -v npm > /dev/null; then
        missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
    fi
    if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
        $SUDO apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
    fi
elif command -v brew > /dev/null; then
    brew list pcre2 > /dev/null 2>&1 || brew install pcre2
    brew list utf8proc > /dev/null 2>&1 || brew install utf8proc
    brew list libmicrohttpd > /dev/null 2>&1 || brew install libmicrohttpd
    brew list jansson > /dev/null 2>&1 || brew install jansson
    brew list pkg-config > /dev/null 2>&1 || brew list pkgconf > /dev/null 2>&1 || brew install pkgconf
    if [ $TEST -eq 1 ]; then
        for p in numpy node wrk; do brew list $p > /dev/null 2>&1 || brew install $p; done
        python3 -c 'import jinja2' 2> /dev/null || python3 -m pip install --user jinja2
    fi
else
    echo "deps.sh: install a C compiler, make, pkg-config, PCRE2, utf8proc, libmicrohttpd and jansson (and for tests numpy, node)" >&2
    exit 1
fi

if [ $TEST -eq 1 ]; then
    npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
fi
echo "deps.sh: ready"
