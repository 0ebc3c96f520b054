#!/usr/bin/env bash
# Bring up the local services the integration tests need: PostgreSQL and a
# single-node Kafka broker. Idempotent: already-running services are reused.
#
# Usage: deploy/local/provision.sh
# Environment: see postgres.sh and kafka.sh (LEADFARM_LOCAL_DIR, LEADFARM_CACHE_DIR,
# LEADFARM_PG_PORT, LEADFARM_KAFKA_PORT, LEADFARM_KAFKA_CONTROLLER_PORT, LEADFARM_KAFKA_FRESH).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$SCRIPT_DIR/postgres.sh" start
"$SCRIPT_DIR/kafka.sh" start

echo
echo "PostgreSQL: postgresql://leadfarm:leadfarm@127.0.0.1:${LEADFARM_PG_PORT:-5432}/leadfarm"
echo "Kafka:      127.0.0.1:${LEADFARM_KAFKA_PORT:-9092}"
