#!/bin/sh
# taowa-argocd-generate: the generate command of the taowa Argo CD plugin (plugin.yaml). Argo CD
# runs it in the Application's source directory (the tenant-master chart) with:
#   ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE  release name and namespace
#   KUBE_VERSION                           the destination cluster's version (optional)
#   ARGOCD_ENV_KUBERNETES_VERSION          the tenant's Kubernetes version (optional: chart default)
#   ARGOCD_ENV_VALUES                      extra values, YAML (optional)
# It prints `helm template` output, post-rendered for the tenant's version, nothing else: Argo CD
# reads stdout as the manifests, so errors go to stderr and fail the render.
set -eu
: "${ARGOCD_APP_NAME:?ARGOCD_APP_NAME is not set: run by Argo CD}"
: "${ARGOCD_APP_NAMESPACE:?ARGOCD_APP_NAMESPACE is not set: run by Argo CD}"

set -- template "$ARGOCD_APP_NAME" . --namespace "$ARGOCD_APP_NAMESPACE" --post-renderer taowa-postrender
if [ -n "${KUBE_VERSION:-}" ]; then
  set -- "$@" --kube-version "$KUBE_VERSION"
fi
if [ -n "${ARGOCD_ENV_KUBERNETES_VERSION:-}" ]; then
  set -- "$@" --set-string "kubernetesVersion=$ARGOCD_ENV_KUBERNETES_VERSION"
fi
if [ -n "${ARGOCD_ENV_VALUES:-}" ]; then
  values=$(mktemp)
  trap 'rm -f "$values"' EXIT
  printf '%s\n' "$ARGOCD_ENV_VALUES" >"$values"
  set -- "$@" --values "$values"
fi
exec helm "$@"
