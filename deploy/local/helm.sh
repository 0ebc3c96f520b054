#!/usr/bin/env bash
# Helm, for the tests that lint and render deploy/helm/leadfarm. Built once from the Go
# module proxy (`go install helm.sh/helm/v4/cmd/helm@v$HELM_VERSION`, a couple of minutes)
# into a versioned cache directory; later runs reuse the binary.
#
# Usage: deploy/local/helm.sh install|path
#   install   build helm if the cached binary is missing (idempotent), print its path
#   path      print where the binary is (or will be); exit 1 if it is not there yet
#
# Environment:
#   LEADFARM_CACHE_DIR   cache root (default: $HOME/.cache/leadfarm); the binary is
#                        $LEADFARM_CACHE_DIR/helm-<version>/bin/helm
#   GO                   the go command (default: `go` on PATH, else /usr/local/go/bin/go)
set -euo pipefail

readonly HELM_VERSION=4.3.2
readonly CACHE_DIR="${LEADFARM_CACHE_DIR:-$HOME/.cache/leadfarm}/helm-$HELM_VERSION"
readonly BIN_DIR="$CACHE_DIR/bin"
readonly HELM_BIN="$BIN_DIR/helm"
readonly LOCK_FILE="$CACHE_DIR/.lock"
# Written only after the build succeeded.
readonly MARKER="$CACHE_DIR/helm.complete"

log() { printf '[helm.sh] %s\n' "$*" >&2; }
die() { printf '[helm.sh] ERROR: %s\n' "$*" >&2; exit 1; }

go_command() {
  if [[ -n "${GO:-}" ]]; then
    printf '%s\n' "$GO"
  elif command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '%s\n' /usr/local/go/bin/go
  else
    die "no Go toolchain (set GO=/path/to/go, or install Go from https://go.dev/dl/)"
  fi
}

installed() { [[ -x "$HELM_BIN" && "$(cat "$MARKER" 2>/dev/null)" == "$HELM_VERSION" ]]; }

install() {
  mkdir -p "$CACHE_DIR"
  # Serialise concurrent invocations (parallel test workers, two make targets).
  exec 9>"$LOCK_FILE"
  flock -w 600 9 || die "could not lock $LOCK_FILE within 600 s"
  if ! installed; then
    local go
    go="$(go_command)"
    log "building helm v$HELM_VERSION with $go (once; cached in $BIN_DIR)"
    rm -f "$MARKER"
    # The version is stamped the way helm's own Makefile does it (else it says "v4.3").
    GOBIN="$BIN_DIR" CGO_ENABLED=0 "$go" install \
      -ldflags "-X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION" \
      "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION" >"$CACHE_DIR/go-install.log" 2>&1 9>&- \
      || { tail -n 40 "$CACHE_DIR/go-install.log" >&2; die "go install failed (see $CACHE_DIR/go-install.log)"; }
    "$HELM_BIN" version --short | grep -q "^v$HELM_VERSION" \
      || die "built $HELM_BIN, but it reports $("$HELM_BIN" version --short)"
    printf '%s\n' "$HELM_VERSION" >"$MARKER"
  fi
  printf '%s\n' "$HELM_BIN"
}

case "${1:-}" in
  install) install ;;
  path) printf '%s\n' "$HELM_BIN"; installed ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
