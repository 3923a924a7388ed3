#!/usr/bin/env bash
# Builds the Go tools taowa's local cluster and tests use, each cached under
# $TAOWA_CACHE/tools/<name>/<version>/. Prints nothing for tools already cached.
#
# usage: hack/build-tools.sh [tool ...]    (default: all)
# tools: etcd coredns helm3 helm4
set -euo pipefail

cache=${TAOWA_CACHE:-$HOME/.cache/taowa}
here=$(cd "$(dirname "$0")" && pwd)
# hack/versions.env gives the defaults; a version set in the environment wins (e.g. ETCD_VERSION=v3.5.24).
while IFS='=' read -r key value; do
  [[ $key =~ ^[A-Z0-9_]+$ && -z ${!key:-} ]] && export "$key=$value"
done <"$here/versions.env"

# go_install NAME VERSION PACKAGE@VERSION: `go install` into the cache.
go_install() {
  local name=$1 version=$2 pkg=$3 dir=$cache/tools/$1/$2
  [[ -f $dir/.done ]] && return 0
  echo "build-tools: $name $version"
  mkdir -p "$dir"
  CGO_ENABLED=0 GOBIN=$dir go install -trimpath -ldflags "-s -w ${4:-}" "$pkg"
  touch "$dir/.done"
}

# build_etcd: etcd's own go.mod replaces its sibling modules with local paths, so `go install`
# refuses it; a scratch module whose main calls etcdmain.Main builds the same server.
build_etcd() {
  local dir=$cache/tools/etcd/$ETCD_VERSION
  [[ -f $dir/.done ]] && return 0
  echo "build-tools: etcd $ETCD_VERSION"
  local mod=$dir/module
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<GOMOD
module taowa.local/etcd-build

go 1.26
GOMOD
  cat >"$mod/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1 \
    && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/etcd" .)
  touch "$dir/.done"
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(etcd coredns helm3 helm4)
for t in "${tools[@]}"; do
  case $t in
    etcd) build_etcd ;;
    coredns) go_install coredns "$COREDNS_VERSION" "github.com/coredns/coredns@$COREDNS_VERSION" ;;
    helm3) go_install helm3 "$HELM3_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM3_VERSION" \
             "-X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION" ;;
    helm4) go_install helm4 "$HELM4_VERSION" "helm.sh/helm/v4/cmd/helm@$HELM4_VERSION" \
             "-X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION" ;;
    *) echo "build-tools: unknown tool '$t' (known: etcd coredns helm3 helm4)" >&2; exit 2 ;;
  esac
done
