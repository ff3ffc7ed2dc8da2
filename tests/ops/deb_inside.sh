#!/usr/bin/env bash
# Runs inside a clean bookworm container (tests/ops/deb_install.sh starts it)
# as root, with the .deb at $PS_DEB_FILE, the repository at /src (read-only)
# and node_modules (express-session, ws, ...) at $PS_NODE_MODULES.
# Everything it starts listens on the container's own loopback.
set -uo pipefail

fails=0
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; fails=$((fails + 1)); }
die() { printf 'FAIL: %s\n' "$*"; exit 1; }
step() { printf -- '--- %s\n' "$*"; }
export DEBIAN_FRONTEND=noninteractive

pkg=libnginx-mod-portfolio-stream
so=/usr/lib/nginx/modules/ngx_http_portfolio_stream_module.so
avail=/usr/share/nginx/modules-available/mod-portfolio-stream.conf
link=/etc/nginx/modules-enabled/50-mod-portfolio-stream.conf
site=/etc/nginx/conf.d/portfolio-stream.conf
secret='deb test secret'
user=deb-user

nginx_t() { nginx -t >/tmp/t.out 2>&1; }
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]; }
wait_port() {
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

step "before: Debian's nginx alone"
[ -f "$PS_DEB_FILE" ] || die "no package at $PS_DEB_FILE"
nginx_t && pass "nginx -t passes before the install" || die "stock nginx -t fails before the install: $(cat /tmp/t.out)"
[ -L "$link" ] && die "$link exists before the install"
# the package's Depends that this image lacks: apt-get must fetch them from Debian
deps=$(dpkg-deb -f "$PS_DEB_FILE" Depends | tr ',' '\n' | sed -e 's/^ *//' -e 's/ .*//' | grep -v '^nginx-abi')
missing=()
for d in $deps; do installed "$d" || missing+=("$d"); done

step "apt-get install ./$(basename "$PS_DEB_FILE")"
apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
if apt-get install -y -qq --no-install-recommends "$PS_DEB_FILE" >/tmp/install.log 2>&1; then
  pass "apt-get install of the .deb succeeded"
else
  cat /tmp/install.log; die "apt-get install of the .deb failed"
fi
installed "$pkg" && pass "dpkg says $pkg is installed" || fail "dpkg does not list $pkg as installed"
for d in $deps; do
  installed "$d" || fail "Depends $d is not installed after apt-get install"
done
if [ "${#missing[@]}" -gt 0 ]; then
  pass "apt-get resolved the Depends and installed ${missing[*]} from Debian"
else
  pass "every Depends ($(echo $deps)) was already there; nginx-abi matched the installed nginx"
fi
[ -f "$so" ] && pass "$so is there" || fail "$so is missing"
[ "$(readlink "$link")" = "$avail" ] && pass "postinst linked $link -> $avail" || fail "no $link -> $avail symlink"
grep -qx 'load_module modules/ngx_http_portfolio_stream_module.so;' "$avail" && pass "$avail has the load_module line" \
  || fail "$avail lacks the load_module line"

step "nginx -t with the module enabled, then the packaged example site"
nginx_t && pass "nginx -t passes with the module loaded" || fail "nginx -t fails with the module: $(cat /tmp/t.out)"
ex=/usr/share/doc/$pkg/examples/portfolio-stream.conf
[ -f "$ex" ] || die "no example site at $ex"
sed -e "s|\"change me\"|\"$secret\"|" "$ex" >"$site"
grep -q "$secret" "$site" || die "could not set the secret in the example"
nginx_t && pass "nginx -t passes with the example site" || die "nginx -t fails with the example site: $(cat /tmp/t.out)"

step "redis-server, nginx, the express-session login app"
redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes --logfile /tmp/redis.log >/dev/null
wait_port 6379 || die "redis-server did not start"
nginx || die "nginx did not start"
wait_port 8080 || die "nginx does not listen on 8080: $(tail -5 /var/log/nginx/error.log)"
master=$(cat /run/nginx.pid)
workers_user=$(for d in /proc/[0-9]*; do
  [ "$(awk '/^PPid:/ { print $2 }' "$d/status" 2>/dev/null)" = "$master" ] && stat -c %U "$d"
done | sort -u | tr '\n' ' ')
[ "$workers_user" = "www-data " ] && pass "nginx runs: master $master as root, workers as www-data (Debian's nginx.conf)" \
  || fail "nginx workers run as '$workers_user', expected www-data"
mkdir -p /tmp/login
cp /src/docker/login/app.mjs /tmp/login/app.mjs
ln -s "$PS_NODE_MODULES" /tmp/login/node_modules
REDIS_URL=redis://127.0.0.1:6379 SESSION_SECRET=$secret PORT=3000 LISTEN_HOST=127.0.0.1 \
  node /tmp/login/app.mjs >/tmp/login/log 2>&1 &
login_pid=$!
for i in $(seq 1 100); do
  curl -fsS -o /dev/null http://127.0.0.1:3000/healthz 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null http://127.0.0.1:3000/healthz || { cat /tmp/login/log; die "the login app did not start"; }

step "log in, WebSocket with the cookie, a published event"
code=$(curl -sS -o /dev/null -w '%{http_code}' -c /tmp/jar --data-urlencode "user=$user" http://127.0.0.1:3000/login)
cookie=$(awk '$6 == "connect.sid" { print $6 "=" $7 }' /tmp/jar)
[ "$code" = 303 ] && [[ $cookie == connect.sid=s%3A* ]] && pass "login: 303 and an express-session cookie" \
  || die "login answered $code with cookie '$cookie'"
ev='{"type":"order_update","data":{"orderId":"deb-1","symbol":"DEB","status":"filled"},"ts":'$(date +%s%3N)'}'
ws() { node /src/tests/ops/ws-check.mjs "$@"; }
if ws --url ws://127.0.0.1:8080/ws/portfolio --cookie "$cookie" --user "$user" \
     --publish "redis-cli PUBLISH portfolio:user:$user '$ev'" --expect "$ev" --timeout-ms 15000; then
  pass "WebSocket through the packaged module: connected as $user, the event arrived byte for byte"
else
  fail "WebSocket check against the installed package failed"
fi
ws --url ws://127.0.0.1:8080/ws/portfolio --expect-status 401 && pass "no cookie: 401" || fail "no cookie was not 401"
forged=$(sed -E 's/\.[^.]*$/.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/' <<<"$cookie")
ws --url ws://127.0.0.1:8080/ws/portfolio --cookie "$forged" --expect-status 401 \
  && pass "a cookie with a wrong signature: 401" || fail "a forged signature was not 401"
grep -q '"status":"healthy"' <<<"$(curl -s http://127.0.0.1:8080/api/admin/websocket-stats)" \
  && pass "stats location answers, status healthy" || fail "stats location does not say healthy"

step "apt-get remove while the site still uses the module"
apt-get remove -y -qq "$pkg" >/tmp/remove.log 2>&1 || { cat /tmp/remove.log; die "apt-get remove failed"; }
[ -e "$so" ] && fail "$so is still there after remove" || pass "the module file is gone"
[ -L "$link" ] && fail "$link is still enabled after remove" || pass "the modules-enabled link is gone"
[ -L "$link.removed" ] && pass "the link is parked as $(basename "$link").removed (a reinstall restores it)" \
  || fail "no parked $link.removed"
nginx_t && fail "nginx -t passes although the site uses portfolio_stream directives" \
  || { grep -q 'unknown directive "portfolio_stream' /tmp/t.out && pass "nginx -t now rejects the site: $(grep -o 'unknown directive "[a-z_]*"' /tmp/t.out | head -1)" \
       || fail "unexpected nginx -t output: $(cat /tmp/t.out)"; }
nginx -s reload 2>/dev/null
sleep 1
grep -q '"status"' <<<"$(curl -s http://127.0.0.1:8080/api/admin/websocket-stats)" \
  && pass "the running nginx keeps its configuration (the failed reload changed nothing)" \
  || fail "the running nginx stopped serving after a failed reload"

step "remove the site, reload: nginx works without the module"
rm -f "$site"
nginx_t && pass "nginx -t passes after apt-get remove" || fail "nginx -t fails after remove: $(cat /tmp/t.out)"
nginx -s reload || fail "nginx -s reload failed"
for i in $(seq 1 50); do
  (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null || break
  sleep 0.1
done
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/)
[ "$code" = 200 ] && pass "Debian's default site answers 200 after the reload" || fail "default site answered $code"
(exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && fail "port 8080 still served after the reload" \
  || pass "the reload dropped the module's site (8080 closed)"
kill -0 "$(cat /run/nginx.pid)" 2>/dev/null && pass "the nginx master is alive" || fail "the nginx master died"
grep -E '\[(emerg|alert|crit)\]' /var/log/nginx/error.log | grep -v 'unknown directive "portfolio_stream' >/tmp/bad.log
[ -s /tmp/bad.log ] && fail "error.log: $(cat /tmp/bad.log)" || pass "no emerg/alert/crit in error.log besides the expected failed reload"

step "reinstall restores the link; purge removes it for good"
apt-get install -y -qq --no-install-recommends "$PS_DEB_FILE" >/tmp/install2.log 2>&1 || { cat /tmp/install2.log; die "reinstall failed"; }
[ "$(readlink "$link")" = "$avail" ] && [ ! -e "$link.removed" ] && pass "reinstall restored the link" || fail "reinstall did not restore the link"
nginx_t && pass "nginx -t passes after the reinstall" || fail "nginx -t fails after the reinstall: $(cat /tmp/t.out)"
rm -f "$link"
apt-get install -y -qq --reinstall "$PS_DEB_FILE" >/dev/null 2>&1
[ -L "$link" ] && fail "an upgrade/reinstall re-created a link the admin deleted" || pass "a link the admin deleted stays deleted on reinstall"
ln -s "$avail" "$link"
apt-get purge -y -qq "$pkg" >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; die "purge failed"; }
[ -L "$link" ] || [ -L "$link.removed" ] && fail "purge left $link or its .removed" || pass "purge removed the link and the parked link"
nginx_t && pass "nginx -t passes after purge" || fail "nginx -t fails after purge: $(cat /tmp/t.out)"
nginx -s reload && sleep 0.5
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/)" = 200 ] && pass "nginx serves after purge" || fail "nginx does not serve after purge"

nginx -s quit 2>/dev/null
kill "$login_pid" 2>/dev/null
redis-cli shutdown nosave >/dev/null 2>&1
if [ "$fails" -gt 0 ]; then
  echo "$fails check(s) failed inside the container"
  exit 1
fi
echo "all checks inside the container passed"
