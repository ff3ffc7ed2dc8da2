# shellcheck shell=bash
# Shared helpers for the shell tests in tests/build (sourced, bash).
# Everything runs on 127.0.0.1, in one temp dir that the EXIT trap removes,
# and every process started here is stopped by its pid.

set -uo pipefail

NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
NCHAN_MODULE=${PS_NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
PS_REPO=${PS_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

PS_FAILS=0
PS_PIDS=()
T=

ps_log()  { printf '%s\n' "$*"; }
ps_pass() { printf 'PASS: %s\n' "$*"; }
ps_fail() { printf 'FAIL: %s\n' "$*"; PS_FAILS=$((PS_FAILS + 1)); }
ps_skip() { printf 'SKIP: %s\n' "$*"; exit 77; }   # ctest SKIP_RETURN_CODE 77
ps_die()  { printf 'ERROR: %s\n' "$*"; exit 1; }

# Stop one process we started: SIG (default TERM), then KILL after a grace period.
ps_stop_pid() {
  local pid=$1 sig=${2:-TERM} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

ps_cleanup() {
  local i
  for ((i = ${#PS_PIDS[@]} - 1; i >= 0; i--)); do
    ps_stop_pid "${PS_PIDS[$i]}" TERM
  done
  PS_PIDS=()
  if [ -n "$T" ] && [ -d "$T" ]; then rm -rf "$T"; fi
}

ps_forget_pid() {
  local p out=()
  for p in "${PS_PIDS[@]}"; do [ "$p" = "$1" ] || out+=("$p"); done
  PS_PIDS=("${out[@]}")
}

# Creates $T and installs the cleanup trap.
ps_setup() {
  T=$(mktemp -d "${TMPDIR:-/tmp}/ps-build-test.XXXXXX") || ps_die "mktemp failed"
  chmod 755 "$T"   # nginx workers run as nobody when the test runs as root
  trap ps_cleanup EXIT
  trap 'exit 130' INT TERM
}

ps_finish() {
  if [ "$PS_FAILS" -gt 0 ]; then
    ps_log "$PS_FAILS check(s) failed"
    exit 1
  fi
  ps_log "all checks passed"
  exit 0
}

ps_need_module() {
  [ -n "${PS_MODULE:-}" ] || ps_die "PS_MODULE (path of ngx_http_portfolio_stream_module.so) is not set"
  [ -f "$PS_MODULE" ] || ps_die "PS_MODULE=$PS_MODULE does not exist (build the module first)"
}

# A port nobody listens on right now (a race is possible; callers retry).
ps_free_port() {
  local i p
  for i in $(seq 1 200); do
    # below the ephemeral range: no client socket of ours can hold it
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

ps_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts redis-server on a free loopback port: sets REDIS_PORT, REDIS_PID.
ps_start_redis() {
  local try i
  command -v redis-server >/dev/null || ps_die "redis-server not installed"
  mkdir -p "$T/redis"
  for try in 1 2 3 4 5; do
    REDIS_PORT=$(ps_free_port) || ps_die "no free port"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
      --dir "$T/redis" --daemonize no --logfile "$T/redis/redis.log" &
    REDIS_PID=$!
    PS_PIDS+=("$REDIS_PID")
    for i in $(seq 1 50); do
      if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
        return 0
      fi
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    ps_stop_pid "$REDIS_PID"; ps_forget_pid "$REDIS_PID"
  done
  ps_die "redis-server did not start (see $T/redis/redis.log)"
}

ps_redis() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# ps_write_conf FILE "load_module lines" "main-context lines" "http-context lines" "server-context lines"
# A complete nginx.conf whose files all live under $T. pid and error_log are
# given with -g by the callers (nginx -t, or a real run).
ps_write_conf() {
  local file=$1 loads=$2 main=$3 http=$4 server=$5
  mkdir -p "$T/temp" "$T/logs"
  cat >"$file" <<CONF
$loads
$main
worker_processes 2;
events { worker_connections 256; }
http {
    access_log $T/logs/access.log;
    client_body_temp_path $T/temp/body;
    proxy_temp_path $T/temp/proxy;
    fastcgi_temp_path $T/temp/fastcgi;
    uwsgi_temp_path $T/temp/uwsgi;
    scgi_temp_path $T/temp/scgi;
$http
    server {
        listen 127.0.0.1:${NGINX_PORT:-8080};
$server
    }
}
CONF
}

# nginx -t like Debian's module load check; output in $T/t.out, returns nginx's status.
ps_nginx_t() {
  "$NGINX_BIN" -t -p "$T" -e /dev/stderr -g "error_log stderr; pid /dev/null;" -c "$1" >"$T/t.out" 2>&1
}

# Starts nginx in the foreground (daemon off) with CONF: sets NGINX_PID.
# NGINX_PORT must be the port the config listens on.
ps_start_nginx() {
  local conf=$1 i
  : >"$T/logs/error.log"
  "$NGINX_BIN" -p "$T" -e "$T/logs/error.log" -c "$conf" \
    -g "daemon off; pid $T/nginx.pid; error_log $T/logs/error.log info;" &
  NGINX_PID=$!
  PS_PIDS+=("$NGINX_PID")
  for i in $(seq 1 100); do
    if ps_port_open "$NGINX_PORT"; then return 0; fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  ps_log "--- error.log"; tail -30 "$T/logs/error.log"
  return 1
}

# Graceful stop (QUIT, as ops do); returns 1 when it needed KILL.
ps_stop_nginx() {
  local i
  kill -QUIT "$NGINX_PID" 2>/dev/null
  for i in $(seq 1 150); do
    if ! kill -0 "$NGINX_PID" 2>/dev/null; then
      wait "$NGINX_PID" 2>/dev/null; ps_forget_pid "$NGINX_PID"; return 0
    fi
    sleep 0.1
  done
  ps_stop_pid "$NGINX_PID" KILL; ps_forget_pid "$NGINX_PID"
  return 1
}

# ps_ws_handshake OUTFILE MAXTIME [curl args...]: a WebSocket upgrade with
# curl (RFC 6455 sample key); headers and whatever follows the 101 (frames)
# go to OUTFILE, unbuffered. Prints the HTTP status code.
PS_WS_KEY='dGhlIHNhbXBsZSBub25jZQ=='
PS_WS_ACCEPT='s3pPLMBiTxaQ9kYGzzhZRbK+xOo='
ps_ws_handshake() {
  local out=$1 maxtime=$2; shift 2
  curl -sS -i -N --http1.1 --max-time "$maxtime" \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H "Sec-WebSocket-Key: $PS_WS_KEY" \
    "$@" -o "$out" 2>/dev/null
  head -1 "$out" 2>/dev/null | awk '{print $2}'
}
