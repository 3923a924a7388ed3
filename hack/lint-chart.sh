#!/usr/bin/env bash
# Lints every Helm chart under charts/, offline. `make lint-chart` runs it; `make test` too.
#
#   1. helm lint --strict (Helm 3 and Helm 4) with the default values and each values file of
#      ci/ (what `ct install` installs on the meta cluster) and lint/ (every feature, for linting
#      only: example registries, ENIs, the oldest minor, ...); yamllint of lint/'s files.
#   2. ct lint (chart-testing, ct.yaml): yamllint of Chart.yaml and the values files
#      (lintconf.yaml), then helm lint --strict per ci/*-values.yaml. Skipped, see ct.yaml:
#        - Chart.yaml schema validation: it runs yamale, a Python package; there is no PyPI here
#          and Debian has no package. helm lint checks Chart.yaml instead.
#        - maintainer validation: it asks https://github.com/<maintainer> over the network.
#        - version increment check: it compares Chart.yaml's version with the one on the remote's
#          target-branch, which a fresh clone need not have and cannot fetch offline (ct turns the
#          check off anyway when --charts names the charts, as here).
#   3. kubeconform -strict on `helm template` of each values file, against JSON schemas generated
#      offline from k8s.io/kubernetes@$KUBERNETES_VERSION's OpenAPI document (hack/cmd/kubeschemas):
#      the meta cluster's API, which the chart's objects are applied to, and from the CRDs the
#      charts' optional objects need: the VerticalPodAutoscaler's (its module, VPA_VERSION) and the
#      Prometheus Operator's ServiceMonitor (generated from its types, hack/build-tools.sh
#      monitoring-crds). Unknown fields, wrong types and missing schemas are errors. Canary
#      manifests with an unknown field prove the schemas do reject one.
#   4. values.schema.json rejects bad values: `helm template` must fail, naming the field.
#
# It builds what it lacks into $TAOWA_CACHE (ct and kubeconform from the Go module proxy, helm
# through hack/build-tools.sh, the schemas once per Kubernetes version and generator) and runs in
# seconds after that. Exits non-zero if any check finds anything; all checks run regardless.
set -euo pipefail
shopt -s nullglob

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=hack/versions.env
source hack/versions.env

KUBECONFORM_VERSION=v0.8.0

cache=${TAOWA_CACHE:-$HOME/.cache/taowa}
helm3=$cache/tools/helm3/$HELM3_VERSION/helm
helm4=$cache/tools/helm4/$HELM4_VERSION/helm
ct=$cache/tools/ct/$CT_VERSION/ct
kubeconform=$cache/tools/kubeconform/$KUBECONFORM_VERSION/kubeconform
schemas=$cache/kubeschemas/$KUBERNETES_VERSION

log() { echo "lint-chart: $*"; }

# --- tools -------------------------------------------------------------------------------------

# build_ct: the chart-testing module is not listed by the Go module proxy (so `go install
# ...@latest` finds nothing), but a scratch module requiring the exact version builds its main.
build_ct() {
  local dir=$cache/tools/ct/$CT_VERSION
  [[ -x $ct && -f $dir/.done ]] && return 0
  log "building ct $CT_VERSION"
  rm -rf "$dir/module"
  mkdir -p "$dir/module"
  cat >"$dir/module/go.mod" <<GOMOD
module taowa.local/ct-build

go 1.26

require github.com/helm/chart-testing/v3 $CT_VERSION
GOMOD
  (cd "$dir/module" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" \
    -o "$ct" github.com/helm/chart-testing/v3/ct)
  touch "$dir/.done"
}

build_kubeconform() {
  local dir=$cache/tools/kubeconform/$KUBECONFORM_VERSION
  [[ -x $kubeconform && -f $dir/.done ]] && return 0
  log "building kubeconform $KUBECONFORM_VERSION"
  mkdir -p "$dir"
  CGO_ENABLED=0 GOFLAGS= GOBIN=$dir go install -trimpath -ldflags "-s -w" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  touch "$dir/.done"
}

# generate_schemas: once per Kubernetes version, CRD files and version of the generator's code.
generate_schemas() {
  hack/build-tools.sh monitoring-crds
  local vpa crds stamp
  vpa=$(go mod download -json "k8s.io/autoscaler/vertical-pod-autoscaler@$VPA_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  crds=("$vpa/deploy/vpa-v1-crd-gen.yaml" "$cache/tools/monitoring-crds/$PROMETHEUS_OPERATOR_VERSION/monitoring.coreos.com_servicemonitors.yaml")
  stamp="$KUBERNETES_VERSION $( (find hack/cmd/kubeschemas -name '*.go' ! -name '*_test.go' | sort | xargs cat; cat "${crds[@]}") | sha256sum | cut -d' ' -f1)"
  [[ -f $schemas/.stamp && $(<"$schemas/.stamp") == "$stamp" ]] && return 0
  log "generating JSON schemas for Kubernetes $KUBERNETES_VERSION and the CRDs"
  go run ./hack/cmd/kubeschemas -kubernetes-version "$KUBERNETES_VERSION" "${crds[@]/#/-crd=}" -out "$schemas"
  echo "$stamp" >"$schemas/.stamp"
}

[[ -x $helm3 && -x $helm4 ]] || hack/build-tools.sh helm3 helm4
build_ct
build_kubeconform
generate_schemas
if ! command -v yamllint >/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    log "installing yamllint (Debian)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends yamllint >/dev/null
  else
    echo "lint-chart: yamllint is missing; install Debian's yamllint (make deps)" >&2
    exit 1
  fi
fi

# ct runs `helm`, `yamllint` and `git` from PATH: Helm 3 first. Helm's own configuration (repos,
# plugins, caches) is a fresh one, so the user's does not change the results.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PATH=$(dirname "$helm3"):$PATH
export PATH
export HELM_CACHE_HOME=$tmp/helm/cache HELM_CONFIG_HOME=$tmp/helm/config HELM_DATA_HOME=$tmp/helm/data

# --- checks ------------------------------------------------------------------------------------

failures=()
fail() {
  failures+=("$1")
  echo "lint-chart: FAIL: $1" >&2
}

charts=()
for c in charts/*/Chart.yaml; do charts+=("$(dirname "$c")"); done
[[ ${#charts[@]} -gt 0 ]] || { echo "lint-chart: no charts under charts/" >&2; exit 1; }

for chart in "${charts[@]}"; do
  # "" is the chart's default values alone.
  values=("")
  values+=("$chart"/ci/*-values.yaml "$chart"/lint/*-values.yaml)

  log "helm lint --strict $chart (Helm $HELM3_VERSION and $HELM4_VERSION; default values, $((${#values[@]} - 1)) values files of ci/ and lint/)"
  for v in "$chart"/lint/*-values.yaml; do
    yamllint --config-file lintconf.yaml "$v" || fail "yamllint $v"
  done
  for helm in "$helm3" "$helm4"; do
    for v in "${values[@]}"; do
      args=(lint --strict --quiet "$chart")
      [[ -z $v ]] || args+=(--values "$v")
      "$helm" "${args[@]}" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "$helm ${args[*]}"; }
    done
  done

  log "helm template $chart | kubeconform -strict (schemas: $schemas)"
  name=$(basename "$chart")
  rendered=()
  for helm in "$helm3" "$helm4"; do
    for v in "${values[@]}"; do
      args=(template tenant-a "$chart" --namespace tenants --include-crds)
      [[ -z $v ]] || args+=(--values "$v")
      out=$tmp/$name-$(basename "$(dirname "$helm")")-$(basename "${v:-default-values.yaml}")
      if "$helm" "${args[@]}" >"$out" 2>"$tmp/out"; then
        rendered+=("$out")
      else
        cat "$tmp/out"
        fail "$helm ${args[*]}"
      fi
    done
  done
  if [[ ${#rendered[@]} -gt 0 ]]; then
    "$kubeconform" -strict -summary -schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      "${rendered[@]}" || fail "kubeconform on $chart"
  fi
done

# Canary: a field Kubernetes does not know must fail strict validation.
cat >"$tmp/canary.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: canary}
spec:
  selector: {matchLabels: {app: canary}}
  template:
    metadata: {labels: {app: canary}}
    spec:
      containers: [{name: canary, image: canary, notAField: true}]
YAML
cat >"$tmp/canary-crd.yaml" <<'YAML'
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: canary}
spec:
  selector: {matchLabels: {app: canary}}
  endpoints: [{port: https, tlsConfig: {notAField: true}}]
YAML
for canary in "$tmp/canary.yaml" "$tmp/canary-crd.yaml"; do
  if "$kubeconform" -strict -schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "$canary" >"$tmp/out" 2>&1 || ! grep -q "'notAField' not allowed" "$tmp/out"; then
    cat "$tmp/out"
    fail "kubeconform accepted an unknown field in $(basename "$canary"): the schemas in $schemas are not strict"
  fi
done

log "ct lint ($(IFS=,; echo "${charts[*]}"))"
"$ct" lint --config ct.yaml --charts "$(IFS=,; echo "${charts[*]}")" >"$tmp/out" 2>&1 ||
  { cat "$tmp/out"; fail "ct lint"; }

# values.schema.json: each of these must make `helm template` fail with an error naming the field.
log "values.schema.json rejects bad values"
chart=charts/tenant-master
while read -r flag setting expect; do
  for helm in "$helm3" "$helm4"; do
    if "$helm" template tenant-a "$chart" "$flag" "$setting" >/dev/null 2>"$tmp/out"; then
      fail "$chart: values.schema.json accepted $setting ($helm)"
    elif ! grep -qF -- "$expect" "$tmp/out"; then
      cat "$tmp/out"
      fail "$chart: $setting was rejected, but the error does not name $expect ($helm)"
    fi
  done
done <<'CASES'
--set-string kubernetesVersion=1.30.0 at '/kubernetesVersion'
--set-string kubernetesVersion=1.38.0 at '/kubernetesVersion'
--set etcd.replicas=2 at '/etcd/replicas'
--set addons.coreDNS.replicas=0 at '/addons/coreDNS/replicas'
--set-string serviceCIDR=10.0.0.0/33 at '/serviceCIDR'
--set-string podCIDR=10.200.0.0 at '/podCIDR'
--set-string certificates.validity=1y at '/certificates/validity'
--set-string apiserver.service.type=ExternalName at '/apiserver/service/type'
--set-string verticalPodAutoscaler.updateMode=Sometimes at '/verticalPodAutoscaler/updateMode'
--set apiserver.replicas=0 at '/apiserver/replicas'
--set-string etcd.snapshots.beforeDelete=yes at '/etcd/snapshots/beforeDelete'
--set etcd.storage.sizee=1Gi 'sizee' not allowed
--set unknownValue=1 'unknownValue' not allowed
--set certificates.caRotation.id=r1 at '/certificates/caRotation/phase'
--set-string certificates.caRotation.phase=trust at '/certificates/caRotation/phase'
--set certificates.caRotation.id=R1,certificates.caRotation.phase=trust at '/certificates/caRotation/id'
--set certificates.caRotation.id=r1,certificates.caRotation.phase=later at '/certificates/caRotation/phase'
--set network.eni.enabled=true at '/network/eni/vpcID'
--set network.eni.enabled=true,network.eni.vpcID=v,network.eni.subnetID=bad/subnet at '/network/eni/subnetID'
--set-string profile=tiny at '/profile'
--set etcd.snapshots.storage.accessModes={RWX} at '/etcd/snapshots/storage/accessModes/0'
--set apiserver.audit.rules[0].level=Everything at '/apiserver/audit/rules/0/level'
CASES

if [[ ${#failures[@]} -gt 0 ]]; then
  echo "lint-chart: ${#failures[@]} check(s) failed:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
log "all checks passed"
