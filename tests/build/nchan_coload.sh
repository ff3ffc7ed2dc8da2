#!/usr/bin/env bash
# Co-loading with Debian's libnginx-mod-nchan, which bundles and exports
# hiredis 1.x (nginx dlopen()s modules RTLD_GLOBAL; our module links a private
# static hiredis 0.14). Checks, in both load orders:
#   - nginx -t accepts the configuration;
#   - a real run against a redis-server on loopback: a handshake without a
#     cookie is answered 401 at once, an unknown session 401, a valid session
#     101 with the RFC 6455 accept key, then the `connected` frame, and an
#     event published to the user's channel reaches the client (so both the
#     command and the pub/sub connection of the module work), while nchan
#     uses the same Redis with its own hiredis in the same workers.
source "$(dirname "$0")/lib.sh"

[ -x "$NGINX_BIN" ] || ps_skip "$NGINX_BIN not installed"
[ -f "$NCHAN_MODULE" ] || ps_skip "$NCHAN_MODULE not installed (apt-get install libnginx-mod-nchan)"
command -v redis-server >/dev/null || ps_skip "redis-server not installed"
command -v curl >/dev/null || ps_skip "curl not installed"
ps_need_module
ps_setup

if leaked=$(nm -D --defined-only "$PS_MODULE" 2>/dev/null | awk '{print $3}' | grep -E '^(redis|sds|__redis)' | head -5) \
   && [ -n "$leaked" ]; then
  ps_fail "$PS_MODULE exports hiredis symbols (link libhiredis.a with -Wl,--exclude-libs,ALL): $leaked"
else
  ps_pass "no hiredis symbol is exported by the module"
fi

ps_start_redis
NGINX_PORT=$(ps_free_port)
conf=$T/nginx.conf

http="    portfolio_stream_redis 127.0.0.1:$REDIS_PORT connect_timeout=2s;
    upstream nchan_redis { nchan_redis_server redis://127.0.0.1:$REDIS_PORT; }"
server="        location /ws/portfolio {
            portfolio_stream on;
            portfolio_stream_session_cookie ps_sid;
        }
        location ~ ^/nchan/(\\w+)\$ {
            nchan_pubsub;
            nchan_channel_id \$1;
            nchan_redis_pass nchan_redis;
        }"

loads_for() {
  case $1 in
    nchan-first) printf 'load_module %s;\nload_module %s;\n' "$NCHAN_MODULE" "$PS_MODULE" ;;
    ours-first)  printf 'load_module %s;\nload_module %s;\n' "$PS_MODULE" "$NCHAN_MODULE" ;;
  esac
}

# --- nginx -t, both orders ---------------------------------------------------
for order in nchan-first ours-first; do
  ps_write_conf "$conf" "$(loads_for $order)" "" "$http" "$server"
  if ps_nginx_t "$conf"; then
    ps_pass "[$order] nginx -t"
  else
    ps_fail "[$order] nginx -t:"; cat "$T/t.out"
  fi
done

# --- a real run, both orders ---------------------------------------------------
ps_redis SET sess:abc '{"cookie":{},"userId":"u1"}' >/dev/null

url="http://127.0.0.1:$NGINX_PORT/ws/portfolio"

# Waits until FILE contains the fixed string S (up to N tenths of a second).
wait_for() {
  local file=$1 s=$2 n=${3:-50} i
  for i in $(seq 1 "$n"); do
    grep -aqF -- "$s" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Waits until FILE holds a complete HTTP header block (its empty CRLF line).
wait_for_header_end() {
  local file=$1 n=${2:-50} i
  for i in $(seq 1 "$n"); do
    grep -aqx $'\r' "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

live_run() {
  local order=$1 st t0 t1 ms i curl_pid out
  ps_write_conf "$conf" "$(loads_for "$order")" "" "$http" "$server"
  if ! ps_start_nginx "$conf"; then
    ps_fail "[$order] nginx did not start"; return
  fi

  # no cookie: 401, without waiting on anything
  t0=$(date +%s%N)
  st=$(ps_ws_handshake "$T/h0" 5 "$url")
  t1=$(date +%s%N); ms=$(( (t1 - t0) / 1000000 ))
  if [ "$st" = 401 ] && [ "$ms" -lt 2000 ]; then
    ps_pass "[$order] no cookie -> 401 (${ms} ms)"
  else
    ps_fail "[$order] no cookie: expected 401 within 2 s, got '${st:-no answer}' after ${ms} ms"
  fi

  # unknown session: a GET sess:nosuch on the module's Redis connection says nil -> 401
  st=$(ps_ws_handshake "$T/h1" 5 -H 'Cookie: ps_sid=nosuch' "$url")
  if [ "$st" = 401 ]; then
    ps_pass "[$order] unknown session -> 401"
  else
    ps_fail "[$order] unknown session: expected 401, got '${st:-no answer}'"
  fi

  # valid session, several times so that both workers are likely exercised
  for i in 1 2 3 4; do
    out=$T/ws$i
    : >"$out"
    curl -sS -i -N --http1.1 --max-time 8 \
      -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
      -H 'Sec-WebSocket-Version: 13' -H "Sec-WebSocket-Key: $PS_WS_KEY" \
      -H 'Cookie: ps_sid=abc' "$url" -o "$out" 2>/dev/null &
    curl_pid=$!
    PS_PIDS+=("$curl_pid")
    if ! wait_for_header_end "$out" 60; then
      ps_fail "[$order] #$i valid session: no response headers within 6 s"
      ps_stop_pid "$curl_pid"; ps_forget_pid "$curl_pid"; continue
    fi
    st=$(head -1 "$out" | awk '{print $2}')
    if [ "$st" != 101 ]; then
      ps_fail "[$order] #$i valid session: expected 101, got '$st'"
      ps_stop_pid "$curl_pid"; ps_forget_pid "$curl_pid"; continue
    fi
    if grep -aqi "^Sec-WebSocket-Accept: $PS_WS_ACCEPT" "$out"; then
      ps_pass "[$order] #$i valid session -> 101 with the RFC 6455 Sec-WebSocket-Accept"
    else
      ps_fail "[$order] #$i 101 without Sec-WebSocket-Accept: $PS_WS_ACCEPT"
    fi
    if wait_for "$out" '"type":"connected"' 40 && grep -aqF '"userId":"u1"' "$out"; then
      ps_pass "[$order] #$i connected frame for u1"
      ev="{\"type\":\"order_update\",\"data\":{\"orderId\":\"o-$order-$i\",\"status\":\"filled\"},\"ts\":$(date +%s%3N)}"
      ps_redis PUBLISH portfolio:user:u1 "$ev" >/dev/null
      if wait_for "$out" "o-$order-$i" 30; then
        ps_pass "[$order] #$i published event delivered over pub/sub"
      else
        ps_fail "[$order] #$i published event not delivered within 3 s"
      fi
    else
      ps_fail "[$order] #$i no {\"type\":\"connected\",\"userId\":\"u1\",...} frame within 4 s"
    fi
    ps_stop_pid "$curl_pid"; ps_forget_pid "$curl_pid"
  done

  # nchan, in the same workers, talks to the same Redis with its own hiredis
  st=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
         -H 'Content-Type: text/plain' --data "hello-$order" \
         "http://127.0.0.1:$NGINX_PORT/nchan/coload" 2>/dev/null)
  if { [ "$st" = 201 ] || [ "$st" = 202 ]; } && [ -n "$(ps_redis --scan --pattern '*coload*' | head -1)" ]; then
    ps_pass "[$order] nchan publish stored in Redis -> $st"
  else
    ps_fail "[$order] nchan publish through Redis: expected 201/202 and a key in Redis, got '${st:-no answer}'"
  fi

  if ! ps_stop_nginx; then
    ps_fail "[$order] nginx did not stop within 15 s of QUIT"
  fi
  if grep -E 'exited on signal|\[alert\]|\[crit\]|\[emerg\]' "$T/logs/error.log" >"$T/bad.log"; then
    ps_fail "[$order] error.log has crashes or alerts:"; head -20 "$T/bad.log"
  else
    ps_pass "[$order] no crash, alert or critical error in error.log"
  fi
}

live_run nchan-first
live_run ours-first

ps_finish
