#!/usr/bin/env bash
# A private Docker engine for tests and development, plus the minimal base image containers run in.
#
#   scripts/docker-engine.sh start  [DIR] [--lease ID] [--no-image]   install (once), start dockerd, build the
#                                                                      test image (once)
#   scripts/docker-engine.sh stop   [DIR] [--lease ID]   stop dockerd (when no other lease holds it), unmount
#   scripts/docker-engine.sh status [DIR]                exit 0 when the engine answers
#   scripts/docker-engine.sh env    [DIR]                print DOCKER_HOST=… and MLOPS_TEST_IMAGE=…
#
# DIR (default ~/.cache/mlops-lite/docker) holds data-root, exec-root, the socket, the pidfile, the log and
# the cached root filesystem tarball. Everything is idempotent: a running engine is reused, an existing
# image is kept, and a cached rootfs is re-imported in seconds when the data-root was wiped.
#
# Why a root filesystem: no registry can be pulled from here (see /work/shared/ENVIRONMENT.md), so the base
# image is a debootstrap'ed Debian bookworm (minbase + python3) fed to `docker import`.
#
# Leases: several test sessions (pytest-xdist workers, parallel runs) may share one engine. `start --lease
# ID` records ID; `stop --lease ID` drops it and stops the engine only when no live lease is left (a lease
# whose ID is a pid that no longer runs counts as dead). `start` without --lease takes the lease "manual"
# (a developer's engine, which test sessions leave running); `stop` without --lease always stops.
set -euo pipefail

CMD="${1:-}"
shift || true
DIR="${HOME}/.cache/mlops-lite/docker"
LEASE=""
IMAGE_WANTED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --lease) LEASE="$2"; shift 2 ;;
    --no-image) IMAGE_WANTED=0; shift ;;
    *) DIR="$1"; shift ;;
  esac
done
DIR="$(mkdir -p "$DIR" && cd "$DIR" && pwd)"
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/docker.pid"
EXEC_ROOT="$DIR/exec"  # short on purpose: containerd's socket path must stay under 108 bytes
DATA_ROOT="$DIR/data"
LOG="$DIR/dockerd.log"
LEASES="$DIR/leases"
CACHE="$DIR/cache"
IMAGE="${MLOPS_TEST_IMAGE:-mlops-lite/test-base:bookworm}"
ROOTFS_TAR="$CACHE/rootfs-bookworm-python3.tar"
START_TIMEOUT="${DOCKER_ENGINE_START_TIMEOUT:-60}"
STOP_TIMEOUT="${DOCKER_ENGINE_STOP_TIMEOUT:-30}"

log() { echo ">> docker-engine: $*" >&2; }
die() { echo "docker-engine: $*" >&2; exit 1; }

docker_cli() {
  # The Debian package's client matches its 20.10 daemon; any other client on PATH also negotiates.
  local bin=/usr/bin/docker
  [ -x "$bin" ] || bin="$(command -v docker)"
  "$bin" -H "unix://$SOCK" "$@"
}

engine_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/comm" 2>/dev/null; then
    echo "$pid"
  fi
}

answers() { docker_cli version >/dev/null 2>&1; }

install_packages() {
  local need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${need[*]}; install them or run as root"
  log "installing ${need[*]} (once, ~15 s)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

start_engine() {
  if [ -n "$(engine_pid)" ] && answers; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "dockerd needs root"
  [ -n "$(engine_pid)" ] && die "dockerd (pid $(engine_pid)) runs but does not answer on $SOCK; see $LOG"
  cleanup_mounts
  rm -f "$SOCK" "$PIDFILE"
  mkdir -p "$EXEC_ROOT" "$DATA_ROOT"
  log "starting dockerd on $SOCK"
  # No iptables/bridge: this machine may not let us manage netfilter; containers use --network host/none.
  setsid dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
    --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" -H "unix://$SOCK" --pidfile "$PIDFILE" \
    </dev/null >>"$LOG" 2>&1 9>&- &
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$LOG" >&2 || true
      die "dockerd did not answer within ${START_TIMEOUT}s (log: $LOG)"
    fi
    if ! kill -0 $! 2>/dev/null; then
      tail -n 20 "$LOG" >&2 || true
      die "dockerd exited during startup (log: $LOG)"
    fi
    sleep 0.2
  done
}

build_rootfs() {
  [ -s "$ROOTFS_TAR" ] && return 0
  local mirror root
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  root="$CACHE/rootfs.tmp"
  mkdir -p "$CACHE"
  rm -rf "$root"
  log "debootstrap bookworm minbase + python3 from $mirror (once, ~1 min)"
  debootstrap --variant=minbase --include=python3 bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  # apt's package lists and caches are useless in a test image; drop them to keep the tarball small.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$root"
}

build_image() {
  docker_cli image inspect "$IMAGE" >/dev/null 2>&1 && return 0
  build_rootfs
  log "importing $ROOTFS_TAR as $IMAGE"
  docker_cli import --change 'CMD ["python3"]' --change 'ENV PYTHONUNBUFFERED=1' "$ROOTFS_TAR" "$IMAGE" >/dev/null
}

add_lease() {
  mkdir -p "$LEASES"
  touch "$LEASES/${LEASE:-manual}"
}

live_leases() {
  local f id n=0
  [ -d "$LEASES" ] || { echo 0; return; }
  for f in "$LEASES"/*; do
    [ -e "$f" ] || continue
    id="$(basename "$f")"
    if [[ "$id" =~ ^[0-9]+$ ]] && ! kill -0 "$id" 2>/dev/null; then
      rm -f "$f"  # its session died without releasing it
      continue
    fi
    n=$((n + 1))
  done
  echo "$n"
}

cleanup_mounts() {
  # A killed engine leaves network namespaces and overlay mounts behind; unmount deepest paths first.
  local m
  for m in $(awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$EXEC_ROOT/netns"
}

stop_engine() {
  local pid
  pid="$(engine_pid)"
  if [ -n "$pid" ]; then
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while [ -d "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if [ -d "/proc/$pid" ]; then
      log "dockerd ignored SIGTERM for ${STOP_TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while [ -d "/proc/$pid" ]; do sleep 0.1; done
    fi
  fi
  # Its managed containerd normally exits with it; a leftover one would hold the exec-root.
  local c
  for c in $(pgrep -f "containerd --config $EXEC_ROOT/" 2>/dev/null || true); do kill -TERM "$c" 2>/dev/null || true; done
  cleanup_mounts
  rm -f "$SOCK" "$PIDFILE"
}

case "$CMD" in
  start)
    exec 9>"$DIR/.lock"
    flock 9
    install_packages
    start_engine
    [ "$IMAGE_WANTED" = 1 ] && build_image
    add_lease
    echo "DOCKER_HOST=unix://$SOCK"
    echo "MLOPS_TEST_IMAGE=$IMAGE"
    ;;
  stop)
    exec 9>"$DIR/.lock"
    flock 9
    [ -n "$LEASE" ] && rm -f "$LEASES/$LEASE"
    if [ -n "$LEASE" ] && [ "$(live_leases)" -gt 0 ]; then
      log "engine kept: $(live_leases) other lease(s) hold it"
      exit 0
    fi
    stop_engine
    rm -rf "$LEASES"
    ;;
  status)
    answers
    ;;
  env)
    echo "DOCKER_HOST=unix://$SOCK"
    echo "MLOPS_TEST_IMAGE=$IMAGE"
    ;;
  *)
    sed -n '2,9p' "$0" >&2
    exit 2
    ;;
esac
