#!/usr/bin/env bash
# Measures identity on the independent Faker corpus: generates it (once per records,
# seed and profile), starts a fresh embedded server (release `idic`), imports the file
# with `idic import records`, and evaluates the exported clusters against the truth.
#
#   tools/corpus/run.sh RECORDS SEED [PROFILE] [MODE]
#
# PROFILE: full (every field collected before the damage) or collected (each source
#   system fills what it collects); default full.
# MODE: auto (default): the import starts the automatic estimate and recluster; the
#   script waits for it (idic_identity_auto_estimate_runs_total on /metrics) and
#   evaluates once, after it.
#   explicit: the import asks for no automatic step; evaluated on the priors, then after
#   `idic identity estimate` and `idic identity recluster`.
# Prints, per step: wall time, the server's CPU time (from /proc), its peak memory
# (VmHWM, reset before each step) and the machine's load. Needs python3 with the
# pinned Faker (pip install -r tools/corpus/requirements.txt).
#
# Environment: IDIC_BIN (default target/release/idic, or $CARGO_TARGET_DIR's), WORK
# (default /tmp/idic-corpus), PORT (default 50161; the admin port is PORT+1).
# Never tune the model on this corpus: it is a measurement set.
set -euo pipefail

records=${1:?records}
seed=${2:?seed}
profile=${3:-full}
mode=${4:-auto}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${IDIC_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/idic}
work=${WORK:-/tmp/idic-corpus}
port=${PORT:-50161}
admin=$((port + 1))
server="http://127.0.0.1:$port"
mkdir -p "$work"

file="$work/records-$records-$seed-$profile.csv"
truth="$work/truth-$records-$seed-$profile.csv"
if [[ ! -s "$file" || ! -s "$truth" ]]; then
  echo "== generating $records records (seed $seed, profile $profile)"
  started=$(date +%s.%N)
  python3 "$here/faker_corpus.py" --records "$records" --seed "$seed" --profile "$profile" \
    --out "$file" --truth "$truth"
  echo "generated in $(echo "$(date +%s.%N) - $started" | bc) s"
fi

data="$work/data-$mode"
rm -rf "$data"
mkdir -p "$data"
log="$work/server-$mode.log"
IDIC_DATA_DIR="$data" IDIC_LISTEN="127.0.0.1:$port" IDIC_ADMIN_LISTEN="127.0.0.1:$admin" \
  IDIC_IDENTITY__SNAPSHOT_DIR=off "$bin" serve >"$log" 2>&1 &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$admin/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done

ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ printf "%.1f", ($14 + $15) / t }' "/proc/$pid/stat"; }
peak() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }
reset_peak() { echo 5 >"/proc/$pid/clear_refs"; }
step_start() { reset_peak; t0=$(date +%s.%N); c0=$(cpu); l0=$(cut -d' ' -f1-3 /proc/loadavg); }
step_end() {
  echo "-- $1: $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f') s, server CPU $(echo "$(cpu) - $c0" | bc) s, peak $(peak) MiB, load before $l0, after $(cut -d' ' -f1-3 /proc/loadavg)"
}
evaluate() {
  "$bin" --server "$server" export clusters >"$work/clusters-$mode-$1.csv"
  echo "== accuracy ($1)"
  python3 "$here/evaluate.py" --records "$file" --truth "$truth" \
    --clusters "$work/clusters-$mode-$1.csv" --json "$work/report-$records-$seed-$profile-$1.json"
}
metric() {
  curl -fs "http://127.0.0.1:$admin/metrics" |
    awk -v name="$1" '$1 == name { print $2 }'
}

echo "== $(date -u '+%Y-%m-%d %H:%M:%S') UTC, $records records, seed $seed, profile $profile, mode $mode, $bin"
if [[ "$mode" == auto ]]; then
  step_start
  "$bin" --server "$server" import records "$file" --batch 1000
  step_end "import"
  step_start
  finished='idic_identity_auto_estimate_runs_total{event="finished"}'
  failed='idic_identity_auto_estimate_runs_total{event="failed"}'
  until [[ "$(metric "$finished")" == 1 ]]; do
    [[ "$(metric "$failed")" == 0 ]] || { echo "the automatic step failed"; tail -5 "$log"; exit 1; }
    sleep 0.5
  done
  step_end "automatic estimate and recluster, from the import's answer until finished"
  grep -E "automatic (estimate|recluster)" "$log" | sed 's/^/   /' || true
  evaluate auto
else
  step_start
  "$bin" --server "$server" import records "$file" --batch 1000 --no-auto-estimate
  step_end "import"
  evaluate priors
  step_start
  "$bin" --server "$server" identity estimate
  step_end "estimate"
  step_start
  "$bin" --server "$server" identity recluster
  step_end "recluster"
  evaluate estimated
fi
