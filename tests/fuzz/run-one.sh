#!/usr/bin/env bash
# Runs one libFuzzer binary for a bounded time.
#   tests/fuzz/run-one.sh <fuzzer> <seed corpus dir> <work dir> [seconds]
# New inputs go to <work dir>/corpus (the committed seeds stay untouched);
# a crash, leak, timeout or OOM leaves its reproducer in <work dir>/artifacts
# and fails. Prints "fuzz <name>: <runs> execs in <s> s, <cov> edges".
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=${4:-${FUZZ_SECONDS:-60}}
name=$(basename "$fuzzer")
mkdir -p "$work/corpus" "$work/artifacts"
log="$work/fuzz.log"
# detect_leaks: a leak fails the run like a crash. -timeout: one input may not
# take 10 s. -rss_limit_mb bounds memory on a shared CI box.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
set +e
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=70000 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" >"$log" 2>&1
rc=$?
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d" " -f2 || true)
echo "fuzz ${name#fuzz_}: ${runs:-?} execs in ${seconds} s, ${cov:-?} edges, exit $rc"
if [ "$rc" -ne 0 ] || compgen -G "$work/artifacts/*" >/dev/null; then
  echo "---- $log (tail)" >&2
  tail -60 "$log" >&2
  echo "reproducers: $(ls "$work/artifacts" 2>/dev/null | tr '\n' ' ')" >&2
  exit 1
fi
