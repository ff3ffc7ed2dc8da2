#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build dir and runs each
# for a bounded time. Exit 1 on any crash, leak, timeout or invariant failure
# (reproducers in <build>/fuzz-work/<target>/artifacts/).
#   tests/fuzz/run.sh [target...]            default: all twelve
# Environment: FUZZ_SECONDS (60 per target), FUZZ_JOBS (1: targets run one
# after the other; 2 runs two at once), FUZZ_BUILD_DIR (build-fuzz).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${FUZZ_BUILD_DIR:-$repo/build-fuzz}")
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_parser ws_handshake session_cookie session_json envelope client_message
  deflate_negotiate inflate json_scan resume_query resp_guard cluster_map)

if ! command -v clang++ >/dev/null || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, long){return 0;}' |
    clang++ -x c++ -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
  echo "fuzz: needs clang with libFuzzer: apt-get install clang libclang-rt-14-dev libfuzzer-14-dev" >&2
  exit 2
fi

CC=clang CXX=clang++ cmake -S "$repo/tests/fuzz" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target ps_fuzz_all

fail=0
pids=()
for t in "${targets[@]}"; do
  [ -x "$build/fuzz_$t" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  rm -rf "$build/fuzz-work/$t"
  "$repo/tests/fuzz/run-one.sh" "$build/fuzz_$t" "$repo/tests/fuzz/corpus/$t" "$build/fuzz-work/$t" "$seconds" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || fail=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
if [ "$fail" -ne 0 ]; then
  echo "fuzz: FAILED (see reproducers above; turn each into a test in tests/unit/test_fuzz_regressions.cpp)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets clean, ${seconds} s each"
