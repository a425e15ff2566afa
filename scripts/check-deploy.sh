#!/usr/bin/env bash
# Checks the deployment files under deploy/ with the tools their ecosystems
# use (run by .ci/run; needs promtool from Debian's `prometheus` package and
# kubectl + kubernetes-validate from PyPI, which .ci/run installs):
#  - both Kubernetes overlays render with `kubectl kustomize` and validate
#    against the Kubernetes API schemas of KUBERNETES_VERSION;
#  - the Prometheus alert rules pass `promtool check rules` and their unit
#    tests (`promtool test rules`);
#  - every query of the Grafana dashboard parses as PromQL (promtool checks
#    them as recording rules of a throw-away file).
# That every metric they name exists is tests/processes/cluster/self_monitoring.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.37.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for tool in kubectl kubernetes-validate promtool python3; do
  command -v "$tool" >/dev/null || { echo "check-deploy: $tool not found (.ci/run installs it)" >&2; exit 1; }
done

for overlay in deploy/kubernetes/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" > "$work/$name.yaml"
  kubernetes-validate --strict --quiet -k "$KUBERNETES_VERSION" "$work/$name.yaml"
  echo "kubernetes: overlay $name renders and validates against $KUBERNETES_VERSION ($(grep -c '^kind:' "$work/$name.yaml") objects)"
done

promtool check rules deploy/prometheus/qoswatch.rules.yml
(cd deploy/prometheus && promtool test rules qoswatch.rules.test.yml)

# The dashboard's queries as recording rules; Grafana's variables replaced
# by what they stand for.
python3 - deploy/grafana/qoswatch-dashboard.json > "$work/dashboard.rules.yml" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
exprs = []
def walk(value):
    if isinstance(value, dict):
        for key, field in value.items():
            if key == "expr" and isinstance(field, str):
                exprs.append(field)
            else:
                walk(field)
    elif isinstance(value, list):
        for item in value:
            walk(item)
walk(dashboard)
if not exprs:
    sys.exit("no queries found in the dashboard")
print("groups:\n  - name: dashboard\n    rules:")
for i, expr in enumerate(exprs):
    expr = expr.replace("$__rate_interval", "5m").replace('"$instance"', '".*"')
    print(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(expr)}")
PY
promtool check rules "$work/dashboard.rules.yml" >/dev/null
echo "grafana: $(grep -c 'record:' "$work/dashboard.rules.yml") dashboard queries parse as PromQL"
