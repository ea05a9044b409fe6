#!/usr/bin/env bash
# Brings up a Docker engine (and the Debian packages the tests use) on a fresh Debian machine (run as root).
# Idempotent: installs only what is missing, starts dockerd only when none answers.
# No bridge network and no iptables: test containers use --network none (or host).
set -euo pipefail

LOG_FILE="${DOCKERD_LOG:-/var/log/dockerd.log}"
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

log() { echo "[.ci/docker.sh] $*" >&2; }

need_packages=()
{ command -v dockerd && command -v docker; } >/dev/null 2>&1 || need_packages+=(docker.io)
# The test base image is made from Debian's static busybox (see test/helpers/docker.ts).
if ! { [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx setsid; }; then
  need_packages+=(busybox-static)
fi

# Headless Chromium for the dashboard's browser test (driven by playwright-core).
command -v chromium >/dev/null 2>&1 || need_packages+=(chromium)

if [ "${#need_packages[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # An empty list directory means `apt-get update` never ran on this machine.
  if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' || true)" ] \
    || ! apt-cache show "${need_packages[@]}" >/dev/null 2>&1; then
    log "apt-get update"
    apt-get update -qq
  fi
  log "installing ${need_packages[*]}"
  apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  log "Docker engine already answers"
  exit 0
fi

# /proc rather than pgrep: procps is not on every minimal image.
dockerd_running() { grep -qx dockerd /proc/[0-9]*/comm 2>/dev/null; }

if ! dockerd_running; then
  # A pid file left by an ended session makes a new dockerd refuse to start.
  rm -f /var/run/docker.pid
  log "starting dockerd (log: $LOG_FILE)"
  nohup dockerd --bridge=none --iptables=false >>"$LOG_FILE" 2>&1 </dev/null &
  disown || true
fi

deadline=$((SECONDS + WAIT_SECONDS))
until docker info >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "ERROR: the Docker engine did not answer within ${WAIT_SECONDS}s; last lines of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done
log "Docker engine ready: $(docker info --format '{{.ServerVersion}} ({{.Driver}})')"
