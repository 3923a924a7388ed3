#!/usr/bin/env bash
# Installs the Debian packages the local meta cluster and the tests need. Idempotent.
# usage: hack/install-deps.sh [argocd]    (argocd: also what Argo CD's images and the git server take)
set -euo pipefail
pkgs=(containerd runc containernetworking-plugins iptables nftables conntrack iproute2 busybox-static yamllint util-linux procps)
if [[ ${1:-} == argocd ]]; then pkgs+=(git redis-server); fi
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package starts no daemon here (no init system); the meta cluster runs its own containerd.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
