#!/usr/bin/env bash
# The Debian package as ops install it: builds the .deb (scripts/package-deb),
# then in a clean bookworm container with Debian's nginx (plus redis-server and
# node for the session app) runs tests/ops/deb_inside.sh: apt-get install of
# the .deb, nginx -t, a real nginx with the packaged example site, a WebSocket
# with a real express-session cookie that receives a published event, then
# apt-get remove / reinstall / purge, after which nginx still works.
# Starts dockerd when none runs (and stops it by pid); exit 77 = skipped
# (PS_SKIP_DOCKER=1, or Docker cannot run here).
source "$(dirname "$0")/lib.sh"

ps_setup
IMAGE=portfolio-stream/debtest:local
NAME=psdeb$$
started=no

cleanup_deb() {
  [ "$started" = yes ] && docker rm -f "$NAME" >/dev/null 2>&1
  ps_docker_down
  ps_cleanup
}
trap cleanup_deb EXIT

ps_docker_up
ps_step "the .deb"
ps_build_deb
ps_pass "built $(basename "$PS_DEB") ($(du -k "$PS_DEB" | cut -f1) KiB)"

ps_step "base image"
ps_base_image

# A bookworm with Debian's nginx and what the test itself needs (redis-server,
# node for the express-session app, curl); not the package's dependencies:
# apt-get must fetch those (libjansson4, ...) when the .deb is installed.
ps_step "test image $IMAGE"
docker build --force-rm -t "$IMAGE" - >"$T/build.log" 2>&1 <<'DOCKERFILE' || { tail -30 "$T/build.log"; ps_die "docker build of $IMAGE failed"; }
FROM debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx redis-server nodejs curl ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
DOCKERFILE
ps_pass "test image ready"

ps_step "install, run, remove inside the container"
started=yes
docker run --rm --name "$NAME" \
  -v "$(dirname "$PS_DEB"):/pkg:ro" -v "$PS_REPO:/src:ro" -v "$PS_NODE_MODULES:/node_modules:ro" \
  -e PS_DEB_FILE="/pkg/$(basename "$PS_DEB")" -e PS_NODE_MODULES=/node_modules \
  "$IMAGE" bash /src/tests/ops/deb_inside.sh
rc=$?
started=no
[ "$rc" -eq 0 ] || ps_fail "the checks inside the container failed (status $rc)"
ps_log "deb install test took $(ps_elapsed)"
ps_finish
