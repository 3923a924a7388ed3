#!/usr/bin/env bash
# The main job on the local meta cluster (`make demo`, after `make images`): the taowa operator
# installed by its chart, one Cluster object applied, the tenant master it becomes waited for,
# and its admin kubeconfig printed and used. Run again, it changes nothing that is already there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=hack/versions.env
source hack/versions.env
cache=${TAOWA_CACHE:-$HOME/.cache/taowa}
state=${TAOWA_STATE:-/var/lib/taowa-meta}
export KUBECONFIG=$state/kubeconfig
helm=$cache/tools/helm3/$HELM3_VERSION/helm
kubectl=$cache/k8s/$KUBERNETES_VERSION/bin/kubectl
name=${DEMO_CLUSTER:-demo}
version=${DEMO_KUBERNETES_VERSION:-1.37.2}

log() { echo "demo: $*" >&2; }

log "installing charts/taowa-operator (namespace taowa-system)"
"$helm" upgrade --install taowa-operator charts/taowa-operator -n taowa-system --create-namespace --wait --timeout 3m >/dev/null

log "applying Cluster $name/$name (Kubernetes $version)"
"$kubectl" create namespace "$name" --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null
"$kubectl" apply -n "$name" -f - >/dev/null <<YAML
apiVersion: taowa.io/v1alpha1
kind: Cluster
metadata: {name: $name}
spec:
  kubernetesVersion: "$version"
YAML

log "waiting for the operator to install it"
"$kubectl" wait -n "$name" "cluster/$name" --for=condition=Ready --timeout 10m >/dev/null
"$kubectl" wait -n "$name" "cluster/$name" --for=condition=Progressing=false --timeout 10m >/dev/null
"$kubectl" get clusters -n "$name" >&2

# The kubeconfig names the apiserver's in-cluster Service; this machine reaches its ClusterIP.
ip=$("$kubectl" get service -n "$name" "$name-apiserver" -o jsonpath='{.spec.clusterIP}')
tenant_kubeconfig=$state/demo/$name.kubeconfig
mkdir -p "$(dirname "$tenant_kubeconfig")"
bin/taowa kubeconfig "$name" -n "$name" --server "https://$ip:6443" >"$tenant_kubeconfig"
chmod 600 "$tenant_kubeconfig"

log "the tenant's admin kubeconfig ($tenant_kubeconfig):"
cat "$tenant_kubeconfig"
# Ready means the chart's ready hook reached /readyz through this ClusterIP, TLS verified.
log "the tenant answers:"
"$kubectl" --kubeconfig "$tenant_kubeconfig" version >&2
"$kubectl" --kubeconfig "$tenant_kubeconfig" get namespaces >&2
log "next: kubectl --kubeconfig $tenant_kubeconfig ...; change spec.kubernetesVersion with bin/taowa upgrade $name -n $name --to <version>; make down stops everything"
