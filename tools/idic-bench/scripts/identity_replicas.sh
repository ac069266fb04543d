#!/bin/bash
# Identity replicas on PostgreSQL: follower lag under a bulk import into the leader,
# the change log's size, and a follower's restart to listening. Two replicas of
# `idic serve --service identity` on a fresh database; prints what it measured and the
# machine's load before and after.
#
#   idic-generate --records 200000 --seed 11 --out records.csv --truth truth.csv
#   IDIC=target/release/idic tools/idic-bench/scripts/identity_replicas.sh records.csv
#
# Needs psql, curl and bc, and PostgreSQL at 127.0.0.1:5432 (user postgres, trust).
set -u
IDIC=${IDIC:-target/release/idic}
RECORDS_CSV=$1
RECORDS=$(($(wc -l < "$RECORDS_CSV") - 1))
DB=idic_ha_bench
URL="postgres://postgres@127.0.0.1:5432/$DB"
W=$(mktemp -d)
psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
echo "load before: $(cat /proc/loadavg)"
start() { # name port admin
  DATABASE_URL=$URL IDIC_IDENTITY__SNAPSHOT_DIR=$W/snap-$1 IDIC_IDENTITY__ADVERTISE_ADDRESS=127.0.0.1:$2 IDIC_LOG_FILTER=info \
    $IDIC serve --service identity --listen 127.0.0.1:$2 --admin-listen 127.0.0.1:$3 --data-dir $W/data-$1 \
    > $W/$1.out 2> $W/$1.log &
  echo $! > $W/$1.pid
  local t0=$(date +%s.%N)
  until grep -q "listening on" $W/$1.out 2>/dev/null; do sleep 0.05; done
  echo "$1 listening after $(echo "$(date +%s.%N) - $t0" | bc) s"
}
start a 50161 9561
start b 50162 9562
( while true; do
    v=$(curl -s 127.0.0.1:9562/metrics | grep '^idic_identity_follower_lag_entries' | awk '{print $2}')
    echo "$(date +%s.%N) ${v:-na}"; sleep 0.25; done ) > $W/lag.txt &
SAMPLER=$!
T0=$(date +%s.%N)
$IDIC import records "$RECORDS_CSV" --server http://127.0.0.1:50161 > $W/import.out 2>&1
T1=$(date +%s.%N)
echo "import of $RECORDS records into the leader: $(echo "$T1 - $T0" | bc) s"
tail -5 $W/import.out
# wait for the follower to hold the whole log
HEAD=$(psql -h 127.0.0.1 -U postgres -d $DB -tAc "SELECT MAX(position) FROM identity.identity_log")
sleep 2.5
kill $SAMPLER
echo "log head position $HEAD; follower lag (entries) max during import: $(awk -v t0=$T0 -v t1=$T1 '$1>=t0 && $1<=t1 { n++; if ($2=="na") na++; else if ($2+0>m) m=$2+0 } END {print m+0 " in " n " samples every 0.25 s (" na+0 " without a reading)"}' $W/lag.txt)"
awk -v t1=$T1 '$2!="na" && $1>=t1 {print "lag at +" ($1-t1) " s after import end: " $2}' $W/lag.txt | head -4
psql -h 127.0.0.1 -U postgres -d $DB -tAc "SELECT 'identity_log: ' || COUNT(*) || ' entries, ' || pg_size_pretty(pg_total_relation_size('identity.identity_log')) || ', ' || (pg_total_relation_size('identity.identity_log') / $RECORDS) || ' bytes per record' FROM identity.identity_log"
psql -h 127.0.0.1 -U postgres -d $DB -tAc "SELECT 'identity schema total: ' || pg_size_pretty(SUM(pg_total_relation_size(c.oid))) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'identity' AND c.relkind = 'r'"
# a follower restart: stop b (it writes its engine snapshot), start it again from the
# snapshot and the log after it, time to listening
kill -TERM $(cat $W/b.pid); while kill -0 $(cat $W/b.pid) 2>/dev/null; do sleep 0.1; done
rm -f $W/b.out
start b 50162 9562
grep -i 'snapshot\|engine' $W/b.log | tail -4
echo "follower b peak memory: $(grep VmHWM /proc/$(cat $W/b.pid)/status)"
echo "leader a peak memory: $(grep VmHWM /proc/$(cat $W/a.pid)/status)"
echo "load after: $(cat /proc/loadavg)"
kill -TERM $(cat $W/a.pid) $(cat $W/b.pid)
sleep 2
psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
rm -rf "$W"
