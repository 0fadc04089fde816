#!/usr/bin/env bash
# make bench: build provisor, then run the standard load scenarios, each
# against a fresh `provisor serve` on loopback started by `provisor bench`.
# BENCH_SHORT=1 runs the small version of each (a few seconds in all).
# Extra arguments go to `provisor bench` (see `provisor bench --help`);
# the JSON results land in $BENCH_JSON (default bin/bench.json).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mkdir -p bin
"$GO" build -o bin/provisor ./core/cmd/provisor
exec bin/provisor bench --json "${BENCH_JSON:-bin/bench.json}" "$@"
