#!/usr/bin/env bash
# The Redis ACLs of docs/operator.md, line by line as printed there (the
# password replaced), against a real redis-server: nginx with the module logs
# in as that user, a real express-session cookie (docker/login/app.mjs) opens a
# WebSocket, an event arrives, and ACL LOG records no denial.
#   acl:basic               sessions + live events
#   acl:db                  db=N needs +select; the basic line with db=N is 503 (SELECT failed)
#   (basic without %R~sess:* is 503; without &portfolio_stream:health:* degraded, SUBSCRIBE refused)
#   acl:history             history on: an event with an offset, then a resume: recovered:true
#   acl:history-preloaded   history with the library loaded by ops (no +function|load)
source "$(dirname "$0")/lib.sh"

[ -x "$NGINX_BIN" ] || ps_skip "$NGINX_BIN not installed"
ps_need_module
ps_setup
DOC=$PS_REPO/docs/operator.md
[ -f "$DOC" ] || ps_die "no $DOC"
PASSWORD=acl-test-$$
SECRET='acl test secret'

# the first "ACL SETUSER" line after <!-- acl:NAME -->, with its placeholder password replaced
acl_line() {
  awk -v m="<!-- acl:$1 -->" '$0 == m { on = 1; next } on && /^ACL SETUSER / { print; exit }' "$DOC" \
    | sed "s/>CHANGE-ME/>$PASSWORD/"
}

ps_start_redis
version=$(ps_redis INFO server | sed -n 's/^redis_version:\([0-9]*\).*/\1/p' | tr -d '\r')
conf=$T/nginx.conf
NGINX_PORT=$(ps_free_port)
started_nginx=no
started_login=no

# setup NAME DB HISTORY: the ACL user from the doc, the login app on db DB, nginx as that user
setup() {
  local name=$1 db=$2 history=$3 line
  line=$(acl_line "$name")
  [ -n "$line" ] || ps_die "no ACL SETUSER line after <!-- acl:$name --> in $DOC"
  # the previous case's nginx and app first: nothing of theirs may reach the log
  if [ "$started_nginx" = yes ]; then ps_stop_nginx; started_nginx=no; fi
  if [ "$started_login" = yes ]; then ps_stop_pid "$LOGIN_PID"; ps_forget_pid "$LOGIN_PID"; started_login=no; fi
  ps_redis ACL DELUSER portfolio-nginx >/dev/null
  ps_redis ACL LOG RESET >/dev/null
  # the doc's line, split into words as redis-cli's prompt does (no globbing)
  local -a words
  read -r -a words <<<"$line"
  if [ "$(ps_redis "${words[@]}" 2>&1)" != OK ]; then
    ps_fail "acl:$name is refused by redis-server $version: $line"
    return 1
  fi
  ps_start_login "redis://127.0.0.1:$REDIS_PORT/$db" "$SECRET"
  started_login=yes
  ps_write_conf "$conf" "load_module $PS_MODULE;" '' \
"    portfolio_stream_redis 127.0.0.1:$REDIS_PORT db=$db username=portfolio-nginx password=$PASSWORD connect_timeout=1s;" \
"        location /ws/portfolio {
            portfolio_stream on;
            portfolio_stream_session_secret \"$SECRET\";
            portfolio_stream_history $history;
        }
        location = /stats { portfolio_stream_stats; }"
  ps_start_nginx "$conf" || ps_die "nginx did not start"
  started_nginx=yes
  # the workers' Redis connections (AUTH, SELECT, health SUBSCRIBE, library check)
  for i in $(seq 1 30); do
    grep -q '"connected":true' <<<"$(curl -s "http://127.0.0.1:$NGINX_PORT/stats")" && break
    sleep 0.1
  done
  return 0
}

no_denials() {
  local log
  log=$(ps_redis ACL LOG 10 | paste -sd' ')
  if [ -z "$log" ]; then
    ps_pass "acl:$1: ACL LOG records no denial"
  else
    ps_fail "acl:$1: ACL LOG: ${log:0:600}"
  fi
}

ws_url() { echo "ws://127.0.0.1:$NGINX_PORT/ws/portfolio${1:-}"; }

ps_step "acl:basic"
if setup basic 0 off; then
  cookie=$(ps_login "http://127.0.0.1:$LOGIN_PORT" acl-user) || ps_die "login failed"
  ev='{"type":"position_update","key":"AAPL","data":{"symbol":"AAPL","quantity":1},"ts":'$(date +%s%3N)'}'
  ps_ws_check --url "$(ws_url)" --cookie "$cookie" --user acl-user \
    --publish "redis-cli -p $REDIS_PORT PUBLISH portfolio:user:acl-user '$ev'" --expect "$ev" \
    && ps_pass "acl:basic: handshake as portfolio-nginx, the event arrived" || ps_fail "acl:basic: WebSocket check failed"
  no_denials basic
fi

ps_step "acl:db (db=3)"
if setup db 3 off; then
  cookie=$(ps_login "http://127.0.0.1:$LOGIN_PORT" db-user) || ps_die "login failed"
  ev='{"type":"account_update","data":{"cash":1}}'
  ps_ws_check --url "$(ws_url)" --cookie "$cookie" --user db-user \
    --publish "redis-cli -p $REDIS_PORT PUBLISH portfolio:user:db-user '$ev'" --expect "$ev" \
    && ps_pass "acl:db: sessions in db 3, the event arrived" || ps_fail "acl:db: WebSocket check failed"
  no_denials db
fi
# the basic line with db=3: SELECT is refused
if setup basic 3 off; then
  cookie=$(ps_login "http://127.0.0.1:$LOGIN_PORT" db-user) || ps_die "login failed"
  ps_ws_check --url "$(ws_url)" --cookie "$cookie" --expect-status 503 \
    && ps_pass "acl:basic with db=3 (no +select): 503" || ps_fail "acl:basic with db=3 was not 503"
  grep -q 'Redis SELECT on the command connection to .* failed: "NOPERM' "$T/logs/error.log" && ps_pass "error.log says the SELECT failed with NOPERM" \
    || ps_fail "error.log does not say SELECT failed: $(grep -E '\[(error|warn)\]' "$T/logs/error.log" | tail -2)"
fi

# the basic line without read access to the sessions: 503, NOPERM in error.log
sed_line=$(acl_line basic | sed 's/ %R~sess:\*//')
DOC_OVERRIDE=$T/nosess.md
printf '<!-- acl:nosess -->\n%s\n' "$(sed "s/>$PASSWORD/>CHANGE-ME/" <<<"$sed_line")" >"$DOC_OVERRIDE"
if DOC=$DOC_OVERRIDE setup nosess 0 off; then
  cookie=$(ps_login "http://127.0.0.1:$LOGIN_PORT" nosess-user) || ps_die "login failed"
  ps_ws_check --url "$(ws_url)" --cookie "$cookie" --expect-status 503 \
    && ps_pass "acl:basic without %R~sess:*: 503" || ps_fail "acl:basic without %R~sess:* was not 503"
  grep -q 'Redis GET failed: "NOPERM' "$T/logs/error.log" && ps_pass "error.log says the GET failed with NOPERM" \
    || ps_fail "error.log does not say the GET failed: $(grep -E '\[(error|warn)\]' "$T/logs/error.log" | tail -2)"
fi

# the basic line without the health channel: the pub/sub connection is never
# up (degraded), and error.log says Redis refused its SUBSCRIBE
sed_line=$(acl_line basic | sed 's/ &portfolio_stream:health:\*//')
DOC_OVERRIDE=$T/nohealth.md
printf '<!-- acl:nohealth -->\n%s\n' "$(sed "s/>$PASSWORD/>CHANGE-ME/" <<<"$sed_line")" >"$DOC_OVERRIDE"
if DOC=$DOC_OVERRIDE setup nohealth 0 off; then
  stats=$(curl -s "http://127.0.0.1:$NGINX_PORT/stats")
  grep -q '"connected":false' <<<"$stats" && grep -q '"status":"degraded"' <<<"$stats" \
    && ps_pass "acl:basic without &portfolio_stream:health:*: pub/sub not connected, degraded" \
    || ps_fail "acl:basic without the health channel: stats ${stats:0:300}"
  grep -q 'Redis SUBSCRIBE on the pub/sub connection to .* failed: "NOPERM' "$T/logs/error.log" \
    && ps_pass "error.log says the SUBSCRIBE failed with NOPERM" \
    || ps_fail "error.log does not say SUBSCRIBE failed: $(grep -E '\[(error|warn)\]' "$T/logs/error.log" | tail -2)"
fi

if [ "${version:-0}" -lt 7 ]; then
  ps_log "redis-server $version: no Redis Functions, the history lines are not checked"
  ps_finish
fi

# history: publish through the library (as the default user, i.e. a backend),
# expect an offset; then a resume from before the second event: recovered:true
# and that event replayed.
history_case() {
  local name=$1 user=$2 cookie out off1 epoch ev1 ev2
  cookie=$(ps_login "http://127.0.0.1:$LOGIN_PORT" "$user") || ps_die "login failed"
  ev1='{"type":"order_update","data":{"orderId":"h1","status":"new"}}'
  out=$(ps_ws_check --url "$(ws_url)" --cookie "$cookie" --user "$user" --expect-offset \
    --publish "redis-cli -p $REDIS_PORT FCALL portfolio_stream_publish 1 portfolio:user:$user '$ev1'" --expect "$ev1")
  rc=$?
  printf '%s\n' "$out"
  off1=$(sed -n 's/.*with offset \([0-9-]*\).*/\1/p' <<<"$out" | head -1)
  epoch=$(sed -n 's/.*epoch \([^)]*\)).*/\1/p' <<<"$out" | head -1)
  if [ "$rc" -eq 0 ] && [ -n "$off1" ] && [ -n "$epoch" ]; then
    ps_pass "acl:$name: connected with epoch $epoch, the event arrived with offset $off1"
  else
    ps_fail "acl:$name: no epoch/offset (history reads refused?): $(grep -E 'history|Functions' "$T/logs/error.log" | tail -2)"
    return
  fi
  ev2='{"type":"trade_executed","data":{"orderId":"h1","symbol":"ACL","quantity":1,"price":2}}'
  redis-cli -p "$REDIS_PORT" FCALL portfolio_stream_publish 1 "portfolio:user:$user" "$ev2" >/dev/null
  ps_ws_check --url "$(ws_url "?since=$off1&epoch=$epoch")" --cookie "$cookie" --user "$user" \
      --expect-recovered --expect "$ev2" \
    && ps_pass "acl:$name: resume since $off1: recovered:true, the missed event replayed" \
    || ps_fail "acl:$name: resume failed"
  no_denials "$name"
}

ps_step "acl:history"
if setup history 0 on; then
  history_case history hist-user
fi

ps_step "acl:history-preloaded (the library loaded by ops)"
ps_redis FUNCTION FLUSH >/dev/null
ps_redis FUNCTION LOAD REPLACE "$(cat "$PS_REPO/redis/portfolio_stream.lua")" >/dev/null \
  || ps_fail "FUNCTION LOAD of redis/portfolio_stream.lua failed"
if setup history-preloaded 0 on; then
  history_case history-preloaded pre-user
fi
ps_finish
