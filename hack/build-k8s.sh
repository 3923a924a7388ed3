#!/usr/bin/env bash
# Builds Kubernetes binaries of one version from the k8s.io/kubernetes Go module and caches them
# under $TAOWA_CACHE/k8s/<version>/bin. Only the first run for a version pays the build.
#
# `go install k8s.io/kubernetes/cmd/...@vX` cannot work: upstream's go.mod points every staging
# module at ./staging/... . We build from a scratch module that requires k8s.io/kubernetes and
# points those replaces at the published staging modules (k8s.io/<name> v0.<minor>.<patch>).
#
# usage: hack/build-k8s.sh v1.37.2 [component ...]   (default: every component taowa uses)
set -euo pipefail

version=${1:?usage: build-k8s.sh vX.Y.Z [component ...]}
shift
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "build-k8s: version must look like v1.37.2, got '$version'" >&2; exit 2; }
minor=${BASH_REMATCH[1]}
patch=${BASH_REMATCH[2]}
components=("$@")
[[ ${#components[@]} -gt 0 ]] || components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

cache=${TAOWA_CACHE:-$HOME/.cache/taowa}
out=$cache/k8s/$version/bin
mkdir -p "$cache/k8s/$version"
exec 9>"$cache/k8s/$version/.lock"
flock 9

missing=()
for c in "${components[@]}"; do [[ -x $out/$c ]] || missing+=("$c"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "build-k8s: $version cached in $out"
  exit 0
fi

work=$cache/k8s/$version/module
mkdir -p "$work"
cd "$work"
upstream=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[[ -n $upstream && -f $upstream ]] || { echo "build-k8s: the module proxy refused k8s.io/kubernetes@$version" >&2; exit 1; }

# Upstream's go.mod with our module name, its staging replaces pointed at published modules,
# and k8s.io/kubernetes itself required.
sed -e 's#^module k8s.io/kubernetes$#module taowa.local/k8s-build#' \
    -e "s#^\(\s*\)\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*\$#\1\2 => \2 v0.$minor.$patch#" \
    "$upstream" >go.mod
printf '\nrequire k8s.io/kubernetes %s\n' "$version" >>go.mod

pkgs=()
for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
if ! go mod download -x k8s.io/kubernetes >/dev/null 2>download.log; then
  cat download.log >&2; exit 1
fi

vars=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  vars+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
echo "build-k8s: building ${missing[*]} $version (cold: ~20 min on 2 cores)"
tmp=$(mktemp -d "$cache/k8s/$version/tmp.XXXX")
trap 'rm -rf "$tmp"' EXIT
if ! CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w$vars" -o "$tmp/" "${pkgs[@]}" 2>build.log; then
  # Name the module version the proxy refused, if that is what failed.
  grep -E 'reading .*: (404|410)|not found|unknown revision|verifying' build.log >&2 || tail -30 build.log >&2
  echo "build-k8s: build of $version failed; log: $work/build.log" >&2
  exit 1
fi
mkdir -p "$out"
for c in "${missing[@]}"; do mv "$tmp/$c" "$out/$c"; done
echo "build-k8s: $version ready in $out"
