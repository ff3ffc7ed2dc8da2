#!/usr/bin/env bash
# docker/compose.yaml as a person uses it: builds every image (the build
# stage runs the CMake build and the unit tests), brings the stack up with
# the monitoring profile, logs in through nginx (express-session cookie),
# opens a WebSocket on the published port with that cookie, receives a
# published event and the demo publisher's events; checks 401 without a
# cookie, the stats, Prometheus (target up, alert rules loaded, the Redis-down
# alert when Redis stops), and brings everything down.
# Starts dockerd when none runs (and stops it by pid); exit 77 = skipped
# (PS_SKIP_DOCKER=1, or Docker cannot run here).
source "$(dirname "$0")/lib.sh"

ps_setup
PROJECT=psci$$
CTX=$T/ctx
COMPOSE=()
up=no

cleanup_compose() {
  if [ "$up" = yes ]; then
    ps_step "docker-compose down"
    "${COMPOSE[@]}" --profile monitoring logs --no-color --tail=20 >"$T/compose.log" 2>&1
    [ "$PS_FAILS" -gt 0 ] && sed 's/^/    /' "$T/compose.log"
    "${COMPOSE[@]}" --profile monitoring down -v --remove-orphans >/dev/null 2>&1
  fi
  ps_docker_down
  ps_cleanup
}
trap cleanup_compose EXIT

ps_docker_up
ps_step "base image"
ps_base_image

# The build context: a copy of the tree (never written to), plus the CA
# certificates this host trusts, for npm behind a TLS-intercepting proxy
# (docker/extra-ca/README).
mkdir -p "$CTX"
tar -C "$PS_REPO" --exclude=./.git --exclude='./build*' --exclude='*/node_modules' -cf - . | tar -C "$CTX" -xf -
for crt in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$crt" ] && cp "$crt" "$CTX/docker/extra-ca/"
done
COMPOSE=(docker-compose -p "$PROJECT" -f "$CTX/docker/compose.yaml")
HTTP_PORT=$(ps_free_port)
PROM_PORT=$(ps_free_port)
export PS_HTTP_PORT=$HTTP_PORT PS_PROMETHEUS_PORT=$PROM_PORT
base=http://127.0.0.1:$HTTP_PORT
stats=$base/api/admin/websocket-stats

ps_step "docker-compose build (every image; the build stage runs the unit tests)"
if "${COMPOSE[@]}" --profile monitoring build --force-rm >"$T/build.log" 2>&1; then
  ps_pass "images built"
else
  tail -40 "$T/build.log"
  ps_die "docker-compose build failed"
fi
grep -E 'tests? from .* ran|PASSED' "$T/build.log" | tail -2 | sed 's/^/    unit tests in the build stage: /'

ps_step "docker-compose up"
up=yes
"${COMPOSE[@]}" --profile monitoring up -d >"$T/up.log" 2>&1 || { cat "$T/up.log"; ps_die "docker-compose up failed"; }
for i in $(seq 1 120); do
  code=$(curl -s -o "$T/stats.json" -w '%{http_code}' "$stats" 2>/dev/null)
  [ "$code" = 200 ] && grep -q '"status":"healthy"' "$T/stats.json" && break
  sleep 0.5
done
if [ "$code" = 200 ] && grep -q '"status":"healthy"' "$T/stats.json"; then
  ps_pass "nginx answers on 127.0.0.1:$HTTP_PORT, stats say healthy (Redis connected as the ACL user)"
else
  ps_fail "no healthy stats on $stats (last: HTTP $code $(head -c 300 "$T/stats.json" 2>/dev/null))"
  "${COMPOSE[@]}" logs --no-color --tail=30 nginx redis
  ps_finish
fi

ps_step "log in through nginx, WebSocket with the session cookie"
for i in $(seq 1 60); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/demo/login")" = 200 ] && break
  sleep 0.5
done
page=$(curl -s "$base/demo/login")
grep -q '<form method="post" action="/demo/login">' <<<"$page" && ps_pass "the login page is served" \
  || ps_fail "no login form at $base/demo/login"
user=ci-user-$$
cookie=$(ps_login "$base" "$user") || true
if [[ $cookie == connect.sid=s%3A* ]]; then
  ps_pass "login set an express-session cookie (${cookie:0:30}...)"
else
  ps_fail "login gave no express-session cookie: '$cookie'"
  ps_finish
fi
demo=$(curl -s -b "$cookie" "$base/demo/")
grep -q '<div id="root">' <<<"$demo" && grep -q '<script type="module"[^>]*src="[^"]*\.js"' <<<"$demo" \
  && ps_pass "the demo page (built with Vite in the image) is served at /demo/" || ps_fail "no built demo page at $base/demo/"
snap=$(curl -s -b "$cookie" "$base/api/portfolio")
grep -q '"positions"' <<<"$snap" && ps_pass "the app's snapshot /api/portfolio answers for the session" || ps_fail "/api/portfolio: $snap"
me=$(curl -s -b "$cookie" "$base/api/me")
[ "$me" = "{\"userId\":\"$user\"}" ] && ps_pass "/api/me says $user" || ps_fail "/api/me: $me"
ev='{"type":"trade_executed","data":{"symbol":"CI","quantity":'$$',"price":1.5},"ts":'$(date +%s%3N)'}'
pub="${COMPOSE[*]} exec -T redis redis-cli PUBLISH portfolio:user:$user '$ev'"
if ps_ws_check --url "ws://127.0.0.1:$HTTP_PORT/ws/portfolio" --cookie "$cookie" --origin "$base" \
     --user "$user" --publish "$pub" --expect "$ev" --any-event --timeout-ms 20000; then
  ps_pass "WebSocket on the published port: connected as $user, the published event and the publisher's events arrived"
else
  ps_fail "WebSocket check through compose failed"
fi
if ps_ws_check --url "ws://127.0.0.1:$HTTP_PORT/ws/portfolio" --origin "$base" --expect-status 401; then
  ps_pass "no cookie: 401"
else
  ps_fail "a handshake without a cookie was not answered 401"
fi
curl -s "$stats" >"$T/stats.json"
if node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const ok = s.connections.accepted >= 1 && s.rejected.unauthorized >= 1 && s.events.delivered >= 1;
  console.log(`    accepted ${s.connections.accepted}, unauthorized ${s.rejected.unauthorized}, delivered ${s.events.delivered}`);
  process.exit(ok ? 0 : 1);' "$T/stats.json"; then
  ps_pass "stats count the upgrade, the 401 and the deliveries"
else
  ps_fail "stats do not show the upgrade, the 401 and the deliveries: $(cat "$T/stats.json")"
fi

ps_step "Prometheus"
prom=http://127.0.0.1:$PROM_PORT
for i in $(seq 1 60); do
  curl -s "$prom/api/v1/targets" >"$T/targets.json" 2>/dev/null && grep -q '"health":"up"' "$T/targets.json" && break
  sleep 0.5
done
grep -q '"health":"up"' "$T/targets.json" && ps_pass "Prometheus scrapes the stats location (target up)" \
  || ps_fail "Prometheus target not up: $(head -c 400 "$T/targets.json")"
curl -s "$prom/api/v1/rules" >"$T/rules.json"
nrules=$(grep -o '"type":"alerting"' "$T/rules.json" | wc -l)
nbad=$(grep -o '"health":"err' "$T/rules.json" | wc -l)
if [ "$nrules" -ge 8 ] && [ "$nbad" -eq 0 ]; then
  ps_pass "$nrules alert rules loaded, none in error"
else
  ps_fail "alert rules: $nrules loaded, $nbad in error"
fi

ps_step "Redis down: degraded, alert; Redis back: healthy"
"${COMPOSE[@]}" stop -t 2 redis >/dev/null 2>&1
for i in $(seq 1 60); do
  grep -q '"status":"degraded"' <<<"$(curl -s "$stats")" && break
  sleep 0.5
done
grep -q '"status":"degraded"' <<<"$(curl -s "$stats")" && ps_pass "stats say degraded once Redis is gone" \
  || ps_fail "stats never said degraded with Redis stopped"
for i in $(seq 1 60); do
  curl -s "$prom/api/v1/alerts" >"$T/alerts.json"
  grep -q '"alertname":"PortfolioStreamRedisDown"' "$T/alerts.json" && break
  sleep 0.5
done
if grep -q '"alertname":"PortfolioStreamRedisDown"' "$T/alerts.json"; then
  ps_pass "alert PortfolioStreamRedisDown is $(grep -o '"state":"[a-z]*"' "$T/alerts.json" | head -1)"
else
  ps_fail "PortfolioStreamRedisDown did not become pending: $(head -c 400 "$T/alerts.json")"
fi
"${COMPOSE[@]}" start redis >/dev/null 2>&1
for i in $(seq 1 60); do
  grep -q '"status":"healthy"' <<<"$(curl -s "$stats")" && break
  sleep 0.5
done
grep -q '"status":"healthy"' <<<"$(curl -s "$stats")" && ps_pass "healthy again after Redis is back" \
  || ps_fail "not healthy again after Redis came back"

ps_log "compose test took $(ps_elapsed)"
ps_finish
