# shellcheck shell=bash
# Shared by scripts/test and scripts/demo (sourced, bash): install what is
# missing on Debian bookworm with apt-get, without letting the packages'
# services (nginx on port 80, redis-server on 6379) start.
#
#   ps_deps_install [extra packages...]
#
# Runs as root (CI) or through sudo when that is available; `apt-get update`
# only when something is missing. PS_EXTRA_PACKAGES adds packages (e.g. clang).

PS_DEB_PACKAGES=(
  build-essential cmake pkg-config
  nginx nginx-dev libnginx-mod-nchan
  libhiredis-dev libjansson-dev libssl-dev libgtest-dev
  redis-server nodejs npm curl openssl
)

ps_deps_log() { printf 'deps: %s\n' "$*" >&2; }

# A package counts as present when dpkg has it installed, or, for tools that
# are often installed some other way (nodejs/npm from NodeSource, whose nodejs
# bundles npm and conflicts with Debian's npm package), when the command exists.
ps_deps_present() {
  local pkg=$1 cmd=
  case $pkg in
    nodejs) cmd=node ;;
    npm) cmd=npm ;;
    cmake) cmd=cmake ;;
    curl) cmd=curl ;;
  esac
  if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then
    return 0
  fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'
}

ps_deps_missing() {
  local pkg
  for pkg in "$@"; do
    ps_deps_present "$pkg" || printf '%s\n' "$pkg"
  done
}

ps_deps_install() {
  local -a want=("${PS_DEB_PACKAGES[@]}" "$@")
  local -a missing=()
  local pkg sudo='' made_policy=no rc=0 svc
  if [ -n "${PS_EXTRA_PACKAGES:-}" ]; then
    # shellcheck disable=SC2206
    want+=(${PS_EXTRA_PACKAGES})
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    ps_deps_log "not a Debian system: install by hand: ${want[*]}"
    return 0
  fi
  mapfile -t missing < <(ps_deps_missing "${want[@]}")
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  ps_deps_log "missing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=sudo
    else
      ps_deps_log "not root and no sudo: install them as root: apt-get install ${missing[*]}"
      return 1
    fi
  fi

  # No service may start during the install (Debian's invoke-rc.d and
  # deb-systemd-invoke ask /usr/sbin/policy-rc.d; 101 = action forbidden).
  # An existing policy-rc.d (e.g. Docker images ship one) is left alone.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null \
      && $sudo chmod 755 /usr/sbin/policy-rc.d && made_policy=yes
  fi

  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
  if [ "$rc" -eq 0 ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" || rc=$?
  fi

  if [ "$made_policy" = yes ]; then
    $sudo rm -f /usr/sbin/policy-rc.d
  fi
  if [ "$rc" -ne 0 ]; then
    ps_deps_log "apt-get failed ($rc)"
    return "$rc"
  fi

  # Belt and braces: if a service we just installed started anyway (a
  # policy-rc.d that allowed it), stop it and keep it from starting at boot.
  for svc in nginx redis-server; do
    case " ${missing[*]} " in *" $svc "*) ;; *) continue ;; esac
    if [ -d /run/systemd/system ]; then
      if systemctl is-active --quiet "$svc" 2>/dev/null; then
        ps_deps_log "stopping the $svc service that the install started"
        $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
      fi
    elif command -v service >/dev/null 2>&1 && service "$svc" status >/dev/null 2>&1; then
      ps_deps_log "stopping the $svc service that the install started"
      $sudo service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
  return 0
}

# npm ci for a directory with a lock file (tests/integration, client); skipped when
# node_modules is already in sync with it (npm writes node_modules/.package-lock.json),
# unless PS_NPM_CI=1.
ps_deps_npm() {
  local dir=$1
  [ -f "$dir/package-lock.json" ] || return 0
  if [ "${PS_NPM_CI:-}" != 1 ] && [ -f "$dir/node_modules/.package-lock.json" ] \
     && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] \
     && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package.json" ]; then
    ps_deps_log "$dir/node_modules is up to date with package-lock.json (PS_NPM_CI=1 forces npm ci)"
    return 0
  fi
  npm ci --prefix "$dir" --no-audit --no-fund
}
