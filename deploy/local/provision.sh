#!/usr/bin/env bash
# Bring up what the integration tests need: PostgreSQL, a single-node Kafka broker,
# Debian's Chromium for the dashboard's browser test, Node.js for the unit tests of its
# number formats, and helm for the chart's tests. Idempotent: what is already there is
# reused.
#
# Usage: deploy/local/provision.sh
# Environment: see postgres.sh, kafka.sh and helm.sh (LEADFARM_LOCAL_DIR, LEADFARM_CACHE_DIR,
# LEADFARM_PG_PORT, LEADFARM_KAFKA_PORT, LEADFARM_KAFKA_CONTROLLER_PORT, LEADFARM_KAFKA_FRESH).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$SCRIPT_DIR/postgres.sh" start
"$SCRIPT_DIR/kafka.sh" start
HELM="$("$SCRIPT_DIR/helm.sh" install)"

if ! command -v chromium >/dev/null 2>&1; then
  echo "[provision] installing Debian's chromium (headless browser tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
  echo "[provision] installing Debian's nodejs (the dashboard's format.js unit tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null
fi

echo
echo "PostgreSQL: postgresql://leadfarm:leadfarm@127.0.0.1:${LEADFARM_PG_PORT:-5432}/leadfarm"
echo "Kafka:      127.0.0.1:${LEADFARM_KAFKA_PORT:-9092}"
echo "Chromium:   $(command -v chromium)"
echo "Node.js:    $(command -v node)"
echo "Helm:       $HELM"
