#!/usr/bin/env bash
# Runs the portfolio-stream benchmarks (not tests: nothing here asserts timing).
#   tests/bench/run_all.sh              # idle_memory, ticks, then history
#   tests/bench/run_all.sh history      # one of them
# PS_BUILD=<cmake build dir> (default: <repo>/build; configured and built with -j2
# when the module is missing). Results: $PS_BUILD/bench/*.json, tables on stdout.
# Loopback only; every process is started and stopped by pid by the scripts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export PS_BUILD=${PS_BUILD:-$repo/build}
export PS_MODULE=${PS_MODULE:-$PS_BUILD/ngx_http_portfolio_stream_module.so}

if [[ ! -f $PS_MODULE ]]; then
  cmake -S "$repo" -B "$PS_BUILD"
  cmake --build "$PS_BUILD" -j2 --target ngx_http_portfolio_stream_module
fi
if [[ ! -f $repo/tests/integration/node_modules/ws/package.json ]]; then
  npm ci --no-audit --no-fund --prefix "$repo/tests/integration"
fi
# 10,000 client sockets in one process: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < 10100 )); then
  echo "run_all.sh: ulimit -n is $(ulimit -n); idle_memory and history need > 10100 (raise the hard limit)" >&2
fi
mkdir -p "$PS_BUILD/bench"
cc -O2 -Wall -o "$PS_BUILD/psb" "$here/psb.c"
cc -O2 -Wall -o "$PS_BUILD/bare" "$here/bare.c"   # the bare reference server (latency)

benches=("$@")
(( ${#benches[@]} )) || benches=(idle_memory ticks history)
for b in "${benches[@]}"; do
  echo "=== $b ($(date -u +%FT%TZ))"
  timeout "${BENCH_TIMEOUT:-900}" node "$here/$b.mjs"
done
