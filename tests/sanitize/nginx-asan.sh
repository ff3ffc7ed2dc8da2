#!/usr/bin/env bash
# Stock /usr/sbin/nginx with the ASan runtime preloaded, so it can dlopen an
# ASan+UBSan build of the module (an instrumented .so needs the runtime to be
# the first library in the process). Used as NGINX_EXECUTABLE / PS_NGINX /
# NGINX by tests/sanitize/run.sh; exec keeps the pid, so tests still stop
# nginx by pid. Environment (set by run.sh):
#   PS_ASAN_RUNTIME        libasan.so the module links (from ldd)
#   PS_NGINX_ASAN_OPTIONS  ASAN_OPTIONS for nginx (see run.sh for why)
#   PS_NGINX_UBSAN_OPTIONS UBSAN_OPTIONS for nginx
set -euo pipefail
: "${PS_ASAN_RUNTIME:?PS_ASAN_RUNTIME is not set (run tests/sanitize/run.sh)}"
export LD_PRELOAD="$PS_ASAN_RUNTIME${LD_PRELOAD:+:$LD_PRELOAD}"
[ -z "${PS_NGINX_ASAN_OPTIONS:-}" ] || export ASAN_OPTIONS="$PS_NGINX_ASAN_OPTIONS"
[ -z "${PS_NGINX_UBSAN_OPTIONS:-}" ] || export UBSAN_OPTIONS="$PS_NGINX_UBSAN_OPTIONS"
unset NGINX  # nginx's inherited-sockets variable, never ours
exec "${PS_REAL_NGINX:-/usr/sbin/nginx}" "$@"
