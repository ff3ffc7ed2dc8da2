# shellcheck shell=bash
# Shared by the tests in tests/ops (sourced, bash): the helpers of
# tests/build/lib.sh (temp dir, pids, redis-server, nginx, ports, skip = 77)
# plus Docker (start dockerd when none runs, stop it by pid), the Debian
# package, and the demo login app.
# shellcheck source=../build/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../build/lib.sh"

PS_OPS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PS_NODE_MODULES=${PS_NODE_MODULES:-$PS_REPO/tests/integration/node_modules}
export PS_NODE_MODULES
PS_DOCKERD_PID=
PS_T0=$(date +%s)

ps_elapsed() { echo "$(($(date +%s) - PS_T0))s"; }
ps_step() { printf -- '--- [%s] %s\n' "$(ps_elapsed)" "$*"; }

# Stop a dockerd we started, by its pid (it stops its containers and its
# containerd first; allow it half a minute).
ps_docker_down() {
  local i
  [ -n "$PS_DOCKERD_PID" ] || return 0
  if kill -0 "$PS_DOCKERD_PID" 2>/dev/null; then
    ps_log "stopping the dockerd this test started (pid $PS_DOCKERD_PID)"
    kill -TERM "$PS_DOCKERD_PID" 2>/dev/null
    for i in $(seq 1 300); do
      kill -0 "$PS_DOCKERD_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$PS_DOCKERD_PID" 2>/dev/null && kill -KILL "$PS_DOCKERD_PID" 2>/dev/null
    wait "$PS_DOCKERD_PID" 2>/dev/null
  fi
  PS_DOCKERD_PID=
}

# Docker usable, or exit 77 (skip) when it truly cannot run here. Installs the
# engine (docker.io, docker-compose, debootstrap) when missing and starts
# dockerd when no daemon answers; ps_docker_down (call it from the EXIT trap)
# stops only a dockerd started here. PS_SKIP_DOCKER=1 skips at once.
ps_docker_up() {
  local need=() i pidfile=/var/run/docker.pid
  if [ "${PS_SKIP_DOCKER:-0}" = 1 ]; then
    ps_skip "PS_SKIP_DOCKER=1: the Docker tests are skipped"
  fi
  command -v docker >/dev/null 2>&1 || need+=(docker.io)
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  if [ "${#need[@]}" -gt 0 ]; then
    # shellcheck source=../../scripts/lib/deps.sh
    source "$PS_REPO/scripts/lib/deps.sh"
    ps_log "installing ${need[*]}"
    ps_deps_install "${need[@]}" >&2 \
      || ps_skip "Docker cannot run here: installing ${need[*]} failed (apt-get)"
    command -v dockerd >/dev/null 2>&1 && command -v docker-compose >/dev/null 2>&1 \
      || ps_skip "Docker cannot run here: no Docker engine package could be installed (${need[*]})"
  fi
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    ps_skip "Docker cannot run here: no daemon answers and only root can start dockerd"
  fi
  # a pid file left by a dockerd that was killed keeps a new one from starting
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
    rm -f "$pidfile"
  fi
  ps_log "starting dockerd (log: $T/dockerd.log)"
  dockerd >"$T/dockerd.log" 2>&1 &
  PS_DOCKERD_PID=$!
  for i in $(seq 1 600); do
    docker info >/dev/null 2>&1 && { ps_log "dockerd is up after $((i / 10)).$((i % 10))s"; return 0; }
    kill -0 "$PS_DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$T/dockerd.log"
  ps_die "dockerd did not come up"
}

# debian:bookworm for FROM lines: present, or imported from the cached
# debootstrap tarball, or made (docker/base-image.sh, about a minute).
ps_base_image() {
  "$PS_REPO/docker/base-image.sh" || ps_die "no debian:bookworm base image (docker/base-image.sh failed)"
}

# The .deb, built in its own hardened build dir next to the test build
# (PS_DEB_BUILD, default <ctest build>/package-deb, kept between runs).
# Sets PS_DEB to its path.
ps_build_deb() {
  local bdir=${PS_DEB_BUILD:-${PS_BUILD:-$PS_REPO/build}/package-deb} out
  mkdir -p "$T/deb"
  out=$("$PS_REPO/scripts/package-deb" "$bdir" --out "$T/deb" 2>"$T/package-deb.log" | tail -1) || {
    tail -30 "$T/package-deb.log"; ps_die "scripts/package-deb failed"; }
  [ -f "$out" ] || ps_die "scripts/package-deb printed no .deb ($out)"
  PS_DEB=$out
}

# The demo login app (docker/login/app.mjs, express-session + connect-redis)
# on 127.0.0.1 with node_modules of tests/integration. Sets LOGIN_PORT, LOGIN_PID.
# ps_start_login REDIS_URL SECRET
ps_start_login() {
  local url=$1 secret=$2 i
  [ -f "$PS_NODE_MODULES/express-session/package.json" ] \
    || ps_die "$PS_NODE_MODULES lacks express-session (npm ci --prefix tests/integration)"
  mkdir -p "$T/login"
  cp "$PS_REPO/docker/login/app.mjs" "$T/login/app.mjs"
  ln -sfn "$PS_NODE_MODULES" "$T/login/node_modules"
  LOGIN_PORT=$(ps_free_port)
  REDIS_URL=$url SESSION_SECRET=$secret PORT=$LOGIN_PORT LISTEN_HOST=127.0.0.1 \
    node "$T/login/app.mjs" >"$T/login/log" 2>&1 &
  LOGIN_PID=$!
  PS_PIDS+=("$LOGIN_PID")
  for i in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$LOGIN_PORT/healthz" 2>/dev/null && return 0
    kill -0 "$LOGIN_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$T/login/log"
  ps_die "the login app did not start"
}

# ps_login BASE_URL USER: POST BASE_URL/login as a browser's form would;
# prints the cookie header value (connect.sid=s%3A...).
ps_login() {
  local base=$1 user=$2 jar code
  jar=$(mktemp "$T/jar.XXXXXX")
  code=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" --data-urlencode "user=$user" "$base/login") || return 1
  [ "$code" = 303 ] || { ps_log "login answered $code, not 303"; return 1; }
  awk '$6 == "connect.sid" { print $6 "=" $7 }' "$jar"
}

# ps_ws_check ARGS...: tests/ops/ws-check.mjs (a WebSocket client with ws)
ps_ws_check() {
  node "$PS_OPS_DIR/ws-check.mjs" "$@"
}
