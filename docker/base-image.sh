#!/usr/bin/env bash
# Makes the `debian:bookworm` base image locally when no image registry is
# reachable: debootstrap --variant=minbase from the Debian mirror apt already
# uses, then `docker import`. Where a registry is reachable, `docker pull
# debian:bookworm` does the same job and this script is not needed.
#
#   docker/base-image.sh [--force]
#
# The root-filesystem tarball is cached (PS_DOCKER_CACHE, default
# /var/cache/portfolio-stream/docker) so a later run, or a run after
# `docker system prune`, imports it in a few seconds instead of ~80 s of
# debootstrap. The tag is PS_BASE_IMAGE (default debian:bookworm).
# Needs root (debootstrap), docker, and debootstrap.
set -euo pipefail
image=${PS_BASE_IMAGE:-debian:bookworm}
cache=${PS_DOCKER_CACHE:-/var/cache/portfolio-stream/docker}
suite=bookworm
tarball=$cache/$suite-minbase.tar
force=no
[ "${1:-}" = --force ] && force=yes

log() { printf 'base-image: %s\n' "$*" >&2; }

if [ "$force" = no ] && docker image inspect "$image" >/dev/null 2>&1; then
  log "$image is present"
  exit 0
fi
if [ "$force" = yes ]; then
  rm -f "$tarball"
fi

if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }
  mirror=''
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list)
  fi
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/root.XXXXXX")
  trap 'rm -rf "$root" "$tarball.tmp"' EXIT
  # no mirror in apt's sources: debootstrap's own default
  log "debootstrap --variant=minbase $suite ${mirror:-(the default mirror of debootstrap)} (about 80 s)"
  debootstrap --variant=minbase "$suite" "$root" ${mirror:+"$mirror"} >"$cache/debootstrap.log" 2>&1 \
    || { log "debootstrap failed: $(tail -3 "$cache/debootstrap.log")"; exit 1; }
  # What Debian's official image does: no apt caches, no services started by
  # package installs, smaller indexes.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/90portfolio-stream-norecommends"
  printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/90portfolio-stream-nolanguages"
  # a frozen (snapshot) mirror has an expired Release file: keep what this host's apt does
  if apt-config dump 2>/dev/null | grep -q '^Acquire::Check-Valid-Until "false";'; then
    printf 'Acquire::Check-Valid-Until "false";\n' >"$root/etc/apt/apt.conf.d/90portfolio-stream-snapshot"
  fi
  # the sources apt uses on this host (mirror, suites, security)
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    rm -f "$root/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
  fi
  tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
  trap - EXIT
fi

log "docker import $tarball as $image"
docker import -c 'CMD ["bash"]' "$tarball" "$image" >/dev/null
log "$image ready"
