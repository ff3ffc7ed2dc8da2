#!/usr/bin/env bash
# The unit, integration and conformance suites against an ASan+UBSan build of
# the core and the module, loaded into Debian's stock nginx.
#   tests/sanitize/run.sh [build dir] [-- ctest args...]
#   default build dir: build-asan;  e.g. tests/sanitize/run.sh -- -R protocol
# Exit 1 when ctest fails or any sanitizer report was written.
#
# How nginx runs the instrumented module: tests/sanitize/nginx-asan.sh
# preloads the libasan.so the module links (LD_PRELOAD only for nginx, not
# for node or redis-server) and is passed as NGINX_EXECUTABLE (-> PS_NGINX
# for the node suites). Never export a variable called NGINX: nginx reads
# it as the list of inherited listening sockets (binary upgrade) and logs
# an [emerg] for anything else.
#
# Options chosen for nginx (master and workers alike):
#   detect_leaks=0   nginx itself is not instrumented and, by design, never
#                    frees its cycle, environment copy or OpenSSL state at
#                    exit; LeakSanitizer would report those on every stop. Leaks
#                    are checked by tests/sanitize/valgrind.sh instead, which
#                    attributes them to the module or not.
#   halt_on_error=1, abort_on_error=0, exitcode=1: a report ends the worker
#                    with exit code 1; nginx logs it as an [alert] and the
#                    suites' error.log check fails too.
#   log_path=DIR/asan: every report (any pid) lands in a file that this
#                    script checks: nginx's stderr is not kept by the suites.
#   UBSan: the module is built with -fno-sanitize-recover=undefined, so any
#   UB aborts; halt_on_error=1, print_stacktrace=1, log_path=DIR/ubsan.
# The unit tests (instrumented executables) run with leak detection on.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$repo/build-asan
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ "${1:-}" != "--" ] || shift
build=$(realpath -m "$build")
jobs=${PS_JOBS:-2}

cmake -S "$repo" -B "$build" -DPS_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNGINX_EXECUTABLE="$repo/tests/sanitize/nginx-asan.sh" >/dev/null
cmake --build "$build" -j"$jobs"

module=$build/ngx_http_portfolio_stream_module.so
runtime=$(ldd "$module" | awk '/libasan\.so/ {print $3; exit}')
[ -n "$runtime" ] && [ -f "$runtime" ] || { echo "sanitize: $module does not link libasan" >&2; exit 2; }

logs=$build/sanitizer-logs
rm -rf "$logs"
mkdir -p "$logs"
export PS_ASAN_RUNTIME=$runtime
export PS_NGINX_ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=1:log_path=$logs/asan-nginx"
export PS_NGINX_UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan-nginx"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
export PS_SANITIZE=1

set +e
# build.* (the addon route rebuilds without sanitizers), fuzz.*, ops.*
# (packages and images of the plain build, minutes of Docker) and steps.*
# (scripts/test's own step results) are not sanitizer runs; everything else is.
# A test that fails here runs once more (--repeat until-pass:2): this pass is
# for memory errors and UB, and ASan's 2-3x slowdown turns the integration
# suites' bounded waits into rare timing failures that say nothing about
# either. A sanitizer report fails the step whatever the test's result (the
# report-file check below), and every first failure stays in the log
# ("***Failed"; scripts/test's steps.sanitize lists them).
ctest --test-dir "$build" --output-on-failure --repeat until-pass:2 -LE '^(build|fuzz|ops|steps)$' "$@"
rc=$?
set -e

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  echo "sanitize: sanitizer reports:" >&2
  for f in $reports; do echo "==== $f" >&2; head -80 "$f" >&2; done
  rc=1
fi
echo "sanitize: ctest exit $rc, $(echo -n "$reports" | grep -c . || true) report file(s) in $logs"
exit "$rc"
