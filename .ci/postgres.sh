# Sourced by .ci/run: install Debian's PostgreSQL, start a throwaway cluster on loopback, export its URL.
# A trap in the caller runs stop_postgres.

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "ci: installing postgresql" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_PORT=${PG_PORT:-55432}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
while port_taken "$PG_PORT"; do  # e.g. a cluster left from sourcing this by hand: ours goes on the next port
  echo "ci: 127.0.0.1:$PG_PORT is taken; trying $((PG_PORT + 1))" >&2
  PG_PORT=$((PG_PORT + 1))
done
PG_DATA=$(mktemp -d /tmp/gateway-ci-pg.XXXXXX)
as_root chown postgres "$PG_DATA"
pg() { as_root runuser -u postgres -- "$@"; }
pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres >/dev/null
pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w start \
  -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
export GATEWAY_TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/postgres"
echo "ci: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT" >&2

stop_postgres() {
  pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  as_root rm -rf "$PG_DATA"
}
