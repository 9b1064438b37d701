#!/bin/sh
# neon_count.sh - instructions the arm64 (NEON) matrix kernels execute for
# one product of 16 rows x 2048 columns, counted under qemu-user with one
# instruction per translation block (bench/neon_count.c). A proxy for speed
# on arm64 hardware, which this project's machines do not have: exact and
# repeatable, but blind to how many of them a core retires per cycle. Each
# count is the run's total less the same run without the product.
#
# usage: bench/neon_count.sh [TOKENS]   (the batch's tokens, default 8; needs
#        gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user, as
#        `make test-arm64` does)
set -eu
cd "$(dirname "$0")/.."
T=${1:-8}
CROSS=aarch64-linux-gnu-
B=build-aarch64-linux-gnu
make -s CROSS=$CROSS BUILD=$B PKG="env PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config" \
    $B/bench/neon_count > /dev/null
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
# qemu 8.1 renamed -singlestep to -one-insn-per-tb
ONE=-one-insn-per-tb
qemu-aarch64 $ONE /bin/true 2>/dev/null || ONE=-singlestep
LOG=$(mktemp "${TMPDIR:-/tmp}/neon-count.XXXXXX")
trap 'rm -f "$LOG"' EXIT
count() { # TYPE MODE T: executed instructions (translation blocks of one)
    qemu-aarch64 $ONE -d nochain,exec -D "$LOG" $B/bench/neon_count "$@" > /dev/null
    grep -c '^Trace' "$LOG"
}
echo "| type | single-token kernel (decode) | batch kernel, per token of $T (prompts) | scalar reference | sdot instructions needed |"
echo "|---|---|---|---|---|"
for ty in "2 Q4_0" "6 Q5_0" "8 Q8_0" "12 Q4_K" "14 Q6_K"; do
    set -- $ty
    base=$(count "$1" 0 1)
    one=$(( $(count "$1" 1 1) - base ))
    ref=$(( $(count "$1" 3 1) - base ))
    base=$(count "$1" 0 "$T")
    batch=$(( ($(count "$1" 2 "$T") - base) / T ))
    echo "| $2 | $one | $batch | $ref | 2048 |"
done
