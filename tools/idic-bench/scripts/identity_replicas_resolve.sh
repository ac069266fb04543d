#!/bin/bash
# Resolve throughput on one identity replica against two, on PostgreSQL: two replicas of
# `idic serve --service identity` on a fresh database, RECORDS imported into the leader,
# then `idic-bench run --scenario resolve-email` at maximum throughput against the
# leader alone, then two bench processes at once, one per replica (their throughputs
# add up). Prints what it measured and the machine's load.
#
#   IDIC=target/release/idic BENCH=target/release/idic-bench \
#     tools/idic-bench/scripts/identity_replicas_resolve.sh records.csv
set -u
IDIC=${IDIC:-target/release/idic}
BENCH=${BENCH:-target/release/idic-bench}
RECORDS_CSV=$1
SECONDS_EACH=${SECONDS_EACH:-20s}
DB=idic_ha_resolve
URL="postgres://postgres@127.0.0.1:5432/$DB"
W=$(mktemp -d)
psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
start() { # name port admin
  DATABASE_URL=$URL IDIC_IDENTITY__ADVERTISE_ADDRESS=127.0.0.1:$2 \
    $IDIC serve --service identity --listen 127.0.0.1:$2 --admin-listen 127.0.0.1:$3 --data-dir $W/data-$1 \
    > $W/$1.out 2> $W/$1.log &
  echo $! > $W/$1.pid
  until grep -q "listening on" $W/$1.out 2>/dev/null; do sleep 0.05; done
}
start a 50171 9571
start b 50172 9572
$IDIC import records "$RECORDS_CSV" --server http://127.0.0.1:50171 > $W/import.out 2>&1
tail -2 $W/import.out
sleep 3
bench() { # port
  $BENCH run --target external --server http://127.0.0.1:$1 --scenario resolve-email \
    --queries "$RECORDS_CSV" --duration $SECONDS_EACH --warmup 3s --concurrency 64
}
echo "== one replica (the leader), load before: $(cat /proc/loadavg)"
bench 50171 > $W/one.txt 2>&1; grep -A1 "^target" $W/one.txt | head -6
echo "== two replicas, one bench process each, load before: $(cat /proc/loadavg)"
bench 50171 > $W/two-a.txt 2>&1 &
FIRST=$!
bench 50172 > $W/two-b.txt 2>&1
wait $FIRST
echo "-- leader:";   grep -A1 "^target" $W/two-a.txt | head -6
echo "-- follower:"; grep -A1 "^target" $W/two-b.txt | head -6
echo "load after: $(cat /proc/loadavg)"
kill -TERM $(cat $W/a.pid) $(cat $W/b.pid)
sleep 2
psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
rm -rf "$W"
