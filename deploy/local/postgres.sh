#!/usr/bin/env bash
# Local PostgreSQL for dev and integration tests: a private cluster under
# $LEADFARM_LOCAL_DIR/postgres/data, listening on 127.0.0.1 only, plus a
# `leadfarm` role and database.
#
# Usage: deploy/local/postgres.sh start|stop|restart|status
#
# Environment:
#   LEADFARM_LOCAL_DIR   runtime state root (default: /tmp/leadfarm-local)
#   LEADFARM_PG_PORT     port on 127.0.0.1  (default: 5432)
#
# If a PostgreSQL server already answers on the port, `start` only makes sure
# the role/database exist. If no server binaries are installed, `start`
# installs the Debian `postgresql` package with apt-get (needs root).
# All subcommands are idempotent.
set -euo pipefail

readonly HOST=127.0.0.1
readonly PORT="${LEADFARM_PG_PORT:-5432}"
readonly LOCAL_DIR="${LEADFARM_LOCAL_DIR:-/tmp/leadfarm-local}"
readonly PG_DIR="$LOCAL_DIR/postgres"
readonly DATA_DIR="$PG_DIR/data"
readonly SOCK_DIR="$PG_DIR/run"
readonly LOG_FILE="$PG_DIR/postgres.log"
readonly LOCK_FILE="$LOCAL_DIR/.postgres.lock"

readonly APP_USER=leadfarm
readonly APP_PASSWORD=leadfarm
readonly APP_DB=leadfarm
readonly URL="postgresql://$APP_USER:$APP_PASSWORD@$HOST:$PORT/$APP_DB"

# PostgreSQL refuses to run as root, so as root the cluster is owned by and run
# as the `postgres` OS user; as any other user it simply runs as that user.
readonly PG_OS_USER=postgres

log() { printf '[postgres.sh] %s\n' "$*"; }
die() { printf '[postgres.sh] ERROR: %s\n' "$*" >&2; exit 1; }

take_lock() {
  mkdir -p "$LOCAL_DIR"
  exec 9>"$LOCK_FILE"
  flock -w 180 9 || die "could not lock $LOCK_FILE within 180 s"
}

# Run a command as the cluster owner. `cd /` avoids "could not change directory"
# noise when the caller's cwd (e.g. /root) is not readable by postgres. 9>&-
# keeps the lock fd out of the (long-lived) postmaster.
as_owner() {
  if ((EUID == 0)); then
    (cd / && runuser -u "$PG_OS_USER" -- "$@") 9>&-
  else
    "$@" 9>&-
  fi
}

# Newest /usr/lib/postgresql/<ver>/bin that has the server tools.
find_pg_bin() {
  local dir best=""
  while IFS= read -r dir; do
    [[ -x "$dir/pg_ctl" && -x "$dir/initdb" && -x "$dir/postgres" ]] && best="$dir"
  done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
  [[ -n "$best" ]] && echo "$best"
}

install_pg() {
  ((EUID == 0)) || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; install them with: sudo apt-get install postgresql"
  command -v apt-get >/dev/null || die "no PostgreSQL server binaries and no apt-get; install PostgreSQL manually"
  log "no PostgreSQL server binaries found; installing the Debian 'postgresql' package ..."
  # Stop the package from creating (and starting) its own 'main' cluster on
  # 5432: we run a private cluster instead. postgresql-common reads drop-ins
  # from createcluster.d (include_dir in the stock createcluster.conf).
  mkdir -p /etc/postgresql-common/createcluster.d
  printf '# Written by leadfarm deploy/local/postgres.sh\ncreate_main_cluster = false\n' \
    >/etc/postgresql-common/createcluster.d/leadfarm-no-main-cluster.conf
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
}

# True if a PostgreSQL server accepts connections on $HOST:$PORT.
pg_answers() {
  local isready
  if [[ -n "${PG_BIN:-}" ]]; then
    isready="$PG_BIN/pg_isready"
  else
    isready=$(command -v pg_isready) || return 1
  fi
  # -U/-d only to keep 'role "root" does not exist' out of the server log.
  "$isready" -q -h "$HOST" -p "$PORT" -U postgres -d postgres -t 3
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
}

# True if the cluster in $DATA_DIR (the one this script manages) is running.
ours_running() {
  [[ -n "${PG_BIN:-}" && -f "$DATA_DIR/PG_VERSION" ]] || return 1
  as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1
}

# Debian-managed cluster (pg_lsclusters) that is online on $PORT: prints "ver name".
debian_cluster_on_port() {
  command -v pg_lsclusters >/dev/null || return 1
  pg_lsclusters --no-header 2>/dev/null |
    awk -v p="$PORT" '$3 == p && $4 ~ /^online/ { print $1, $2; found=1; exit } END { exit !found }'
}

init_cluster() {
  [[ -f "$DATA_DIR/PG_VERSION" ]] && return 0
  log "initdb: new cluster in $DATA_DIR"
  mkdir -p "$PG_DIR"
  if ((EUID == 0)); then
    chown "$PG_OS_USER:" "$PG_DIR"
  fi
  chmod 700 "$PG_DIR"
  as_owner test -w "$PG_DIR" ||
    die "user $PG_OS_USER cannot write $PG_DIR (are all parent dirs traversable?); choose another LEADFARM_LOCAL_DIR"
  # Trust auth is deliberate: a throwaway dev/test cluster reachable only on
  # 127.0.0.1 and through a socket in a private directory.
  as_owner "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres --auth=trust -E UTF8 --no-locale \
    >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  # Our settings live in leadfarm.conf (rewritten on every start).
  echo "include_if_exists = 'leadfarm.conf'" | as_owner tee -a "$DATA_DIR/postgresql.conf" >/dev/null
}

write_conf() {
  as_owner mkdir -p "$SOCK_DIR"
  as_owner tee "$DATA_DIR/leadfarm.conf" >/dev/null <<EOF
# Written by deploy/local/postgres.sh on every start; edits are overwritten.
listen_addresses = '$HOST'
port = $PORT
# Private socket dir: works without /var/run/postgresql and for non-root users.
unix_socket_directories = '$SOCK_DIR'
EOF
}

# Create/align the leadfarm role and database. Needs a superuser connection:
# ours (trust over TCP as 'postgres'), or for a foreign server either that or
# peer auth as the postgres OS user on the default socket (Debian default).
ensure_role_db() {
  local psql="${PG_BIN:+$PG_BIN/}psql"
  local -a su_psql
  if PGCONNECT_TIMEOUT=5 "$psql" -X -w -q -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
    su_psql=("$psql" -X -w -q -h "$HOST" -p "$PORT" -U postgres -d postgres)
  elif ((EUID == 0)) && id "$PG_OS_USER" >/dev/null 2>&1 &&
       as_owner "$psql" -X -w -q -p "$PORT" -d postgres -tAc 'select 1' >/dev/null 2>&1; then
    su_psql=(as_owner "$psql" -X -w -q -p "$PORT" -d postgres)
  elif PGCONNECT_TIMEOUT=5 "$psql" -X -w -q "$URL" -tAc 'select 1' >/dev/null 2>&1; then
    log "no superuser access, but $APP_USER can already connect to $APP_DB; leaving role as is"
    return 0
  else
    die "cannot connect as a superuser to the server on $HOST:$PORT to create role/database $APP_USER"
  fi
  "${su_psql[@]}" -v ON_ERROR_STOP=1 <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $APP_DB OWNER $APP_USER'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')\gexec
SQL
}

# --- subcommands ------------------------------------------------------------

cmd_start() {
  PG_BIN=$(find_pg_bin) || PG_BIN=""
  if pg_answers; then
    if ours_running; then
      log "already running (cluster $DATA_DIR)"
    else
      log "a PostgreSQL server not started by this script answers on $HOST:$PORT; using it"
    fi
    ensure_role_db
    log "url: $URL"
    return 0
  fi

  if [[ -z "$PG_BIN" ]]; then
    install_pg
    PG_BIN=$(find_pg_bin) || die "PostgreSQL installed but no server binaries in /usr/lib/postgresql/*/bin"
    # Should the package still have started its own cluster on this port
    # (e.g. an older postgresql-common without createcluster.d), just use it.
    if pg_answers; then
      log "the freshly installed package's cluster answers on $HOST:$PORT; using it"
      ensure_role_db
      log "url: $URL"
      return 0
    fi
  fi
  ((EUID == 0)) && ! id "$PG_OS_USER" >/dev/null 2>&1 &&
    die "running as root but there is no '$PG_OS_USER' OS user to own the cluster"

  if ours_running; then
    # Either still starting, or just killed (a SIGKILLed postmaster counts as
    # running until it is reaped and its children have exited). Give it a moment.
    local deadline=$((SECONDS + 15))
    while ours_running && ! pg_answers && ((SECONDS < deadline)); do
      sleep 0.5
    done
    if pg_answers; then
      log "already running (cluster $DATA_DIR)"
      ensure_role_db
      log "url: $URL"
      return 0
    fi
    ours_running &&
      die "cluster $DATA_DIR is running but not answering on port $PORT (other LEADFARM_PG_PORT?); try: $0 restart"
  fi
  port_open && die "port $PORT is in use by something that does not answer as PostgreSQL"

  init_cluster
  write_conf
  log "starting PostgreSQL ($("$PG_BIN/postgres" --version | awk '{print $3}')) on $HOST:$PORT ..."
  local t0=$SECONDS
  if ! as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 start >/dev/null; then
    echo "----- last lines of $LOG_FILE -----" >&2
    tail -n 30 "$LOG_FILE" >&2 || true
    die "pg_ctl start failed"
  fi
  log "ready in $((SECONDS - t0)) s (log $LOG_FILE)"
  ensure_role_db
  log "url: $URL"
}

cmd_stop() {
  PG_BIN=$(find_pg_bin) || PG_BIN=""
  if ours_running; then
    log "stopping cluster $DATA_DIR ..."
    as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m fast -w -t 60 stop >/dev/null
    log "stopped"
    return 0
  fi
  if pg_answers; then
    foreign_ctl stop
    return 0
  fi
  log "not running"
}

# Stop/restart a server this script did not start: only a Debian-managed
# cluster (pg_ctlcluster) is handled; anything else is left alone.
foreign_ctl() {
  local action=$1 cluster
  if cluster=$(debian_cluster_on_port) && command -v pg_ctlcluster >/dev/null; then
    log "server on port $PORT is the Debian cluster '$cluster', not ours; using pg_ctlcluster $action"
    # shellcheck disable=SC2086  # "ver name" splits into two arguments
    pg_ctlcluster $cluster "$action" -m fast 9>&-
    return 0
  fi
  die "the PostgreSQL server on $HOST:$PORT was not started by this script and is not a Debian cluster; $action it yourself"
}

cmd_restart() {
  PG_BIN=$(find_pg_bin) || PG_BIN=""
  if ours_running; then
    cmd_stop
    cmd_start
  elif pg_answers; then
    foreign_ctl restart
    ensure_role_db
    log "url: $URL"
  else
    cmd_start
  fi
}

cmd_status() {
  PG_BIN=$(find_pg_bin) || PG_BIN=""
  if pg_answers; then
    if ours_running; then
      log "running (cluster $DATA_DIR), url $URL"
    else
      log "a server not started by this script answers on $HOST:$PORT, url $URL"
    fi
    return 0
  fi
  if ours_running; then
    log "cluster $DATA_DIR is running but not answering on port $PORT"
  else
    log "not running"
  fi
  return 1
}

main() {
  case "${1:-}" in
    start)   take_lock; cmd_start ;;
    stop)    take_lock; cmd_stop ;;
    restart) take_lock; cmd_restart ;;
    status)  cmd_status ;;
    *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
  esac
}

main "$@"
