#!/usr/bin/env bash
# SPEC section 1 as `nginx -t` sees it (no Redis needed: nginx -t never connects).
#   directives.sh valid    every directive with good values, in every allowed context, is accepted
#   directives.sh invalid  bad values and wrong contexts are rejected with a clear [emerg]
#                          message that points at the offending line
source "$(dirname "$0")/lib.sh"

mode=${1:-}
[ "$mode" = valid ] || [ "$mode" = invalid ] || ps_die "usage: $0 valid|invalid"
[ -x "$NGINX_BIN" ] || ps_skip "$NGINX_BIN not installed"
ps_need_module
ps_setup

NGINX_PORT=$(ps_free_port)
conf=$T/nginx.conf
loads="load_module $PS_MODULE;"

# The baseline every case builds on: accepted as it is.
base_http='    portfolio_stream_redis 127.0.0.1:6379;'
base_server='        location /ws/portfolio { portfolio_stream on; }'

# check_conf NAME MAIN HTTP SERVER: expects nginx -t to accept the configuration.
check_ok() {
  local name=$1 main=$2 http=$3 server=$4
  ps_write_conf "$conf" "$loads" "$main" "$http" "$server"
  if ps_nginx_t "$conf"; then
    ps_pass "accepted: $name"
  else
    ps_fail "rejected, but the SPEC allows it: $name"
    sed 's/^/    /' "$T/t.out"
    if grep -q 'dlopen()' "$T/t.out"; then ps_die "the module does not load; nothing else can be checked"; fi
  fi
}

# check_bad WHERE 'DIRECTIVE LINE' TOKEN...: the line is put in WHERE (main,
# http, server, location); nginx -t must fail with [emerg], name the file and
# line of the directive, and mention the directive name or one of the TOKENs
# (the bad value).
check_bad() {
  local where=$1 line=$2; shift 2
  local main='' http=$base_http server=$base_server lineno out rc tok named=no dname
  local marked="$line # CASE"
  case $where in
    main)     main=$marked ;;
    http)     http="$base_http
    $marked" ;;
    server)   server="$base_server
        $marked" ;;
    location) server="$base_server
        location /case {
            $marked
        }" ;;
  esac
  ps_write_conf "$conf" "$loads" "$main" "$http" "$server"
  lineno=$(grep -n '# CASE' "$conf" | cut -d: -f1)
  ps_nginx_t "$conf"; rc=$?
  out=$(cat "$T/t.out")
  dname=${line%% *}; dname=${dname%;}
  if [ "$rc" -eq 0 ]; then
    ps_fail "accepted, but must be rejected: [$where] $line"
    return
  fi
  if grep -qF "unknown directive \"$dname\"" <<<"$out"; then
    ps_fail "not implemented yet (unknown directive \"$dname\"): [$where] $line"
    return
  fi
  if [ "$rc" -gt 128 ]; then
    ps_fail "nginx -t crashed (status $rc) on: [$where] $line"; sed 's/^/    /' <<<"$out"
    return
  fi
  for tok in "$dname" "$@"; do
    if grep -qF -- "$tok" <<<"$out"; then named=yes; fi
  done
  if grep -q '\[emerg\]' <<<"$out" && grep -qF "$conf:$lineno" <<<"$out" && [ $named = yes ]; then
    ps_pass "rejected: [$where] $line  ->  $(grep -m1 '\[emerg\]' <<<"$out" | sed "s|$T/||")"
  else
    ps_fail "rejected without a clear message (want [emerg], nginx.conf:$lineno, and \"$dname\" or the bad value): [$where] $line"
    sed 's/^/    /' <<<"$out"
  fi
}

if [ "$mode" = valid ]; then
  check_ok "the minimal configuration" '' "$base_http" "$base_server"
  check_ok "defaults only (no portfolio_stream_redis)" '' '' "$base_server"
  check_ok "every directive, http level" 'env ENABLE_REALTIME_PORTFOLIO;' \
'    portfolio_stream_redis 127.0.0.1:6379 db=2 password=s3cret username=app connect_timeout=3s;
    portfolio_stream_zone 2m;
    portfolio_stream_max_connections 1000;
    portfolio_stream_max_connections_per_user 3;
    portfolio_stream_session_cookie connect.sid;
    portfolio_stream_session_secret "new secret";
    portfolio_stream_session_secret "old secret";
    portfolio_stream_session_prefix sess:;
    portfolio_stream_session_user_field passport.user;
    portfolio_stream_session_recheck 30s;
    portfolio_stream_channel_prefix portfolio:user:;
    portfolio_stream_broadcast_channel portfolio:broadcast;
    portfolio_stream_batch_window 100ms;
    portfolio_stream_heartbeat 20s;
    portfolio_stream_allowed_origins https://app.example.com https://admin.example.com;
    portfolio_stream_max_message_size 32k;
    portfolio_stream_max_event_size 512k;
    portfolio_stream_send_limit 2m;' \
'        location /ws/portfolio { portfolio_stream on; }
        location /ws/off { portfolio_stream off; }
        location /api/admin/websocket-stats { portfolio_stream_stats; allow 127.0.0.1; deny all; }'
  check_ok "server and location levels" '' "$base_http" \
'        portfolio_stream_max_connections_per_user 4;
        portfolio_stream_session_cookie sid;
        portfolio_stream_session_secret "keyboard cat";
        portfolio_stream_session_prefix app:sess:;
        portfolio_stream_session_user_field userId;
        portfolio_stream_session_recheck 0;
        portfolio_stream_channel_prefix pf:u:;
        portfolio_stream_broadcast_channel pf:all;
        portfolio_stream_batch_window 0;
        portfolio_stream_heartbeat 5s;
        portfolio_stream_allowed_origins *;
        portfolio_stream_max_message_size 4k;
        portfolio_stream_send_limit 256k;
        location /ws/portfolio {
            portfolio_stream on;
            portfolio_stream_max_connections_per_user 1;
            portfolio_stream_session_cookie other.sid;
            portfolio_stream_session_secret "a";
            portfolio_stream_session_secret "b";
            portfolio_stream_session_prefix s:;
            portfolio_stream_session_user_field passport.user;
            portfolio_stream_session_recheck 2m;
            portfolio_stream_channel_prefix x:;
            portfolio_stream_broadcast_channel y;
            portfolio_stream_batch_window 1s;
            portfolio_stream_heartbeat 30s;
            portfolio_stream_allowed_origins https://a.example https://b.example:8443;
            portfolio_stream_max_message_size 1m;
            portfolio_stream_send_limit 8m;
        }
        location = /stats { portfolio_stream_stats; }'
  check_ok "Redis on a unix socket" '' '    portfolio_stream_redis unix:/run/redis/redis.sock db=1;' "$base_server"
  check_ok "Redis by host name" '' '    portfolio_stream_redis localhost:6380 connect_timeout=500ms;' "$base_server"
  check_ok "two servers, two endpoints" '' "$base_http" \
'        location /ws/portfolio { portfolio_stream on; }
    }
    server {
        listen 127.0.0.1:'"$(ps_free_port)"';
        location /ws/portfolio { portfolio_stream on; portfolio_stream_batch_window 50ms; }'
  ps_finish
fi

# --- invalid -----------------------------------------------------------------
check_ok "the baseline for the rejection cases" '' "$base_http" "$base_server"
[ "$PS_FAILS" -eq 0 ] || ps_die "the baseline configuration is rejected; the cases below would be meaningless"

# values
check_bad location 'portfolio_stream maybe;' maybe
check_bad http 'portfolio_stream_max_connections 0;' '"0"'
check_bad http 'portfolio_stream_max_connections -5;' '"-5"'
check_bad http 'portfolio_stream_max_connections lots;' '"lots"'
check_bad http 'portfolio_stream_max_connections_per_user 0;' '"0"'
check_bad location 'portfolio_stream_max_connections_per_user many;' '"many"'
check_bad http 'portfolio_stream_batch_window abc;' '"abc"'
check_bad location 'portfolio_stream_batch_window -1s;' '"-1s"'
check_bad http 'portfolio_stream_heartbeat soon;' '"soon"'
check_bad http 'portfolio_stream_session_recheck forever;' '"forever"'
check_bad http 'portfolio_stream_zone abc;' '"abc"'
check_bad http 'portfolio_stream_max_message_size huge;' '"huge"'
check_bad http 'portfolio_stream_max_event_size huge;' '"huge"'
check_bad location 'portfolio_stream_send_limit huge;' '"huge"'
check_bad http 'portfolio_stream_redis nohost:port;' 'nohost:port'
check_bad http 'portfolio_stream_redis 127.0.0.1:99999;' '127.0.0.1:99999'
check_bad http 'portfolio_stream_redis 127.0.0.1:6379 db=x;' 'db=x'
check_bad http 'portfolio_stream_redis 127.0.0.1:6379 db=-1;' 'db=-1'
check_bad http 'portfolio_stream_redis 127.0.0.1:6379 connect_timeout=abc;' 'connect_timeout=abc'
check_bad http 'portfolio_stream_redis 127.0.0.1:6379 colour=blue;' 'colour=blue'
check_bad http 'portfolio_stream_redis unix:;' 'unix:'
# arity
check_bad http 'portfolio_stream_redis;'
check_bad http 'portfolio_stream_max_connections 1 2;'
check_bad location 'portfolio_stream;'
check_bad location 'portfolio_stream_allowed_origins;'
check_bad location 'portfolio_stream_stats on;'
# contexts
check_bad server 'portfolio_stream on;'
check_bad http 'portfolio_stream on;'
check_bad location 'portfolio_stream_redis 127.0.0.1:6379;'
check_bad server 'portfolio_stream_zone 1m;'
check_bad location 'portfolio_stream_max_connections 10;'
check_bad location 'portfolio_stream_max_event_size 1m;'
check_bad http 'portfolio_stream_stats;'
check_bad main 'portfolio_stream_max_connections 10;'
# duplicates of http-only singletons
check_bad http 'portfolio_stream_redis 127.0.0.1:6380;' 'duplicate'
check_bad http 'portfolio_stream_max_connections 10; portfolio_stream_max_connections 20;' 'duplicate'

ps_finish
