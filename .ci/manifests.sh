#!/usr/bin/env bash
# The deployment files, checked offline: every kustomize overlay (and through them the
# TLS and Gateway API components) renders and validates against the Kubernetes API
# schemas of the oldest and newest versions the README supports; the Prometheus alert
# rules pass promtool; the Grafana dashboard is valid JSON whose queries name only
# metrics the binary exports. Needs kubectl, kubernetes-validate (PyPI), promtool.
set -euo pipefail
cd "$(dirname "$0")/.."

rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
for overlay in deploy/overlays/*/; do
  name="$(basename "$overlay")"
  kubectl kustomize "$overlay" > "$rendered/$name.yaml"
  for version in 1.27.0 1.33.0; do
    # --strict refuses fields the schema does not know; CRDs (GRPCRoute) have no
    # bundled schema and are only warned about.
    python3 -m kubernetes_validate --strict --quiet -k "$version" "$rendered/$name.yaml"
  done
  echo "deploy/overlays/$name: $(grep -c '^kind:' "$rendered/$name.yaml") objects, valid for Kubernetes 1.27 and 1.33"
done

promtool check rules deploy/monitoring/alerts.yaml

python3 - deploy/monitoring/grafana-dashboard.json <<'PY'
import json, re, sys
dashboard = json.load(open(sys.argv[1]))
known = {
    "rpc_server_call_duration_seconds", "rpc_client_call_duration_seconds",
    "idic_offerings_degraded_total", "idic_circuit_breaker_state",
    "idic_outbox_backlog_events", "idic_bus_publish_lag_seconds",
    "idic_bus_consume_lag_seconds", "idic_resolve_cache_lookups_total",
    "idic_identity_engine_records", "idic_identity_engine_customers",
    "process_resident_memory_bytes", "idic_grpc_open_connections",
    "idic_database_connections", "idic_grpc_shed_total", "idic_grpc_requests_total",
}
panels = dashboard["panels"]
assert panels, "the dashboard has panels"
for panel in panels:
    assert panel["targets"], f"panel {panel['title']} has queries"
    for target in panel["targets"]:
        for name in re.findall(r"\b((?:rpc|idic|process)_[a-z_]+)\{", target["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert base in known, f"panel {panel['title']}: unknown metric {name}"
print(f"deploy/monitoring/grafana-dashboard.json: {len(panels)} panels, every metric known")
PY
