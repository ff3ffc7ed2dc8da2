#!/usr/bin/env bash
# valgrind memcheck of one nginx process (master_process off; daemon off)
# with the module, through tests/sanitize/valgrind-scenario.mjs (events,
# client messages, protocol-error closes, vanishing clients, rejected
# handshakes, normal close, SIGQUIT with a client still open).
#   tests/sanitize/valgrind.sh [module.so]
# default module: $PS_MODULE, else build/ngx_http_portfolio_stream_module.so
# (built with cmake if missing). Output: $VG_OUT (default <build>/valgrind/).
#
# Pass: the scenario succeeds, valgrind reports 0 errors (invalid reads and
# writes, uses of uninitialised values, bad frees) and 0 definitely lost
# bytes. "Still reachable" and "possibly lost" are not errors: nginx keeps
# its cycle pool, environment copy and OpenSSL/hiredis state until exit by
# design. Suppressions (tests/sanitize/valgrind.supp) cover only code that is
# not ours, each with a reason; none names the module.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
module=${1:-${PS_MODULE:-$repo/build/ngx_http_portfolio_stream_module.so}}
if [ ! -f "$module" ]; then
  cmake -S "$repo" -B "$repo/build" >/dev/null
  cmake --build "$repo/build" -j"${PS_JOBS:-2}" --target ngx_http_portfolio_stream_module
fi
module=$(realpath "$module")
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 2; }
out=$(realpath -m "${VG_OUT:-$(dirname "$module")/valgrind}")
rm -rf "$out"
mkdir -p "$out"
chmod 755 "$out"
log=$out/valgrind.log

set +e
node "$repo/tests/sanitize/valgrind-scenario.mjs" "$module" "$out" \
  --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --error-exitcode=99 --num-callers=40 --track-fds=no --child-silent-after-fork=yes \
  --suppressions="$repo/tests/sanitize/valgrind.supp" --log-file="$log"
scenario=$?
set -e

fail=0
[ "$scenario" -eq 0 ] || { echo "valgrind: scenario failed (exit $scenario)" >&2; fail=1; }
[ -f "$log" ] || { echo "valgrind: no log at $log" >&2; exit 1; }
summary=$(grep -E 'ERROR SUMMARY' "$log" | tail -1)
lost=$(grep -E 'definitely lost:' "$log" | tail -1 || true)
echo "valgrind: ${summary#*== }"
echo "valgrind: ${lost#*== }"
if ! grep -qE 'ERROR SUMMARY: 0 errors' "$log"; then
  echo "valgrind: errors reported ($log):" >&2
  grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|Syscall|Source and|[0-9,]+ bytes in [0-9,]+ blocks are definitely)|^==[0-9]+==    (at|by) ' "$log" | head -120 >&2
  fail=1
fi
if [ -f "$out/exit.json" ] && ! grep -q '"code":0' "$out/exit.json"; then
  echo "valgrind: nginx exit status $(cat "$out/exit.json")" >&2
  fail=1
fi
if grep -E '\[(alert|emerg)\]|signal 11' "$out/error.log" >&2; then fail=1; fi
[ "$fail" -eq 0 ] && echo "valgrind: clean ($log)"
exit "$fail"
