# taowa: the two commands a new user needs are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

include hack/versions.env
export KUBERNETES_VERSION ETCD_VERSION COREDNS_VERSION HELM3_VERSION HELM4_VERSION VERSITYGW_VERSION ARGOCD_VERSION

export TAOWA_CACHE ?= $(HOME)/.cache/taowa
export TAOWA_STATE ?= /var/lib/taowa-meta
BIN := $(CURDIR)/bin
METACLUSTER := $(BIN)/taowa-metacluster
KUBECTL := $(TAOWA_CACHE)/k8s/$(KUBERNETES_VERSION)/bin/kubectl

CHART_VERSION := $(shell sed -n 's/^version: //p' charts/tenant-master/Chart.yaml)
HELM3 := $(TAOWA_CACHE)/tools/helm3/$(HELM3_VERSION)/helm
HELM4 := $(TAOWA_CACHE)/tools/helm4/$(HELM4_VERSION)/helm
# Tenant Kubernetes versions whose images `make images` loads (each is built once, then cached):
# the operator test walks 1.35 -> 1.37.
TENANT_VERSIONS ?= v1.37.2 v1.36.3 v1.35.4

.PHONY: help deps binaries build up down status objectstore images helm test test-unit test-e2e lint lint-chart demo bench bench-density bench-eni e2e-versions e2e-fleet e2e-argocd ct-install

help:
	@echo "make demo    the local meta cluster, the operator and one tenant master; prints its kubeconfig"
	@echo "make test    every test: unit, lint, and end to end on the local meta cluster"
	@echo "make up | down | status    the local meta cluster alone"
	@echo "make objectstore    an S3 object store on it, for tenants' snapshots"

deps: ## Debian packages (containerd, runc, CNI plugins, iptables, busybox, yamllint)
	hack/install-deps.sh

binaries: deps ## Kubernetes, etcd and CoreDNS, built once per version into $(TAOWA_CACHE)
	hack/build-k8s.sh $(KUBERNETES_VERSION)
	hack/build-tools.sh etcd coredns

build: ## the project's own binaries
	CGO_ENABLED=0 go build -trimpath -o $(METACLUSTER) ./hack/cmd/metacluster
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/pause ./hack/cmd/pause
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/gitserver ./hack/cmd/gitserver
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/taowa-hook ./hooks/cmd/taowa-hook
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/taowa-postrender ./postrender/cmd/taowa-postrender
	cp $(BIN)/taowa-postrender postrender/plugin/taowa-postrender
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/taowa ./release/cmd/taowa
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/taowa-operator ./release/cmd/taowa-operator
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/eni ./cni-eni/cmd/eni
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/eni-exec ./cni-eni/cmd/eni-exec
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/taowa-eni-agent ./cni-eni/cmd/taowa-eni-agent

up: binaries build
	$(METACLUSTER) up

down: build
	$(METACLUSTER) down

status: build
	$(METACLUSTER) status

# The meta cluster's S3 object store for tenants' snapshots (VersityGW, bucket taowa-snapshots);
# `down` removes it with the cluster.
objectstore: up
	hack/build-tools.sh versitygw
	$(METACLUSTER) objectstore up

# The tenant images: Kubernetes components per tenant version, etcd, and the project's own.
TENANT_ETCD_VERSIONS ?= $(ETCD_VERSION)
images: up
	for v in $(TENANT_VERSIONS); do hack/build-k8s.sh $$v kube-apiserver kube-controller-manager kube-scheduler; done
	for e in $(TENANT_ETCD_VERSIONS); do ETCD_VERSION=$$e hack/build-tools.sh etcd; done
	$(METACLUSTER) images $(foreach v,$(TENANT_VERSIONS),$(foreach c,kube-apiserver kube-controller-manager kube-scheduler,registry.k8s.io/$(c):$(v)=$(TAOWA_CACHE)/k8s/$(v)/bin/$(c))) \
	  $(foreach e,$(TENANT_ETCD_VERSIONS),registry.k8s.io/etcd:$(e:v%=%)-0=$(TAOWA_CACHE)/tools/etcd/$(e)/etcd) \
	  ghcr.io/taowa/taowa-hook:$(CHART_VERSION)=$(BIN)/taowa-hook \
	  ghcr.io/taowa/eni-exec:$(CHART_VERSION)=$(BIN)/eni-exec \
	  ghcr.io/taowa/taowa-eni-agent:$(CHART_VERSION)=$(BIN)/taowa-eni-agent:0 \
	  ghcr.io/taowa/taowa:$(CHART_VERSION)=$(BIN)/taowa \
	  ghcr.io/taowa/taowa-operator:$(CHART_VERSION)=$(BIN)/taowa-operator

# Every supported minor for real: its binaries against the version table, then a tenant master of
# each version installed and serving. The list comes from the table (taowa-versions). Cold, this
# builds seven Kubernetes versions (about 20 minutes each on 2 cores).
e2e-versions: build helm
	$(MAKE) images TENANT_VERSIONS="$$(go run ./versions/cmd/taowa-versions kubernetes | tr '\n' ' ')" \
	  TENANT_ETCD_VERSIONS="$$(go run ./versions/cmd/taowa-versions etcd | tr '\n' ' ')"
	go test -tags realbinaries -count=1 ./versions/... ./postrender/... ./hooks/etcdsnapshot/
	TAOWA_E2E_VERSIONS=all go test -tags e2e -count=1 -run 'TestTenantEveryVersion|TestTenantUpgradeChain' -timeout 200m -v ./test/e2e/...

# The fleet upgrade of five tenants (taowa upgrade --all --canary 1 --max-parallel 2), with a
# failing canary first, alone (make test runs it too).
e2e-fleet: images helm
	go test -tags e2e -count=1 -run TestTaowaFleetUpgrade -timeout 30m -v ./test/e2e/...

# Tenants synced from git by a real Argo CD (built from its module, about 18 minutes cold, then
# cached) with the taowa plugin added as release/argocd/README.md says, from the meta cluster's
# git server: an ApplicationSet's three tenants created, one upgraded, one refused by the skew
# gate, refreshes without drift, one pruned.
e2e-argocd: images helm
	hack/install-deps.sh argocd
	hack/build-tools.sh argocd
	TAOWA_E2E_ARGOCD=1 go test -tags e2e -count=1 -run 'TestArgoCD' -timeout 45m -v ./test/e2e/...

# chart-testing's `ct install` of every chart under charts/ with each ci/*-values.yaml, on the
# local meta cluster (tenant-master through the post-renderer): install, helm test, uninstall.
# make test runs it too (TestChartTestingInstall); this target runs only it.
ct-install: images helm lint-chart
	go test -tags e2e -count=1 -run TestChartTestingInstall -timeout 30m -v ./test/e2e/...

# Helm 3 and 4, for the tests and the demo.
helm:
	hack/build-tools.sh helm3 helm4

# The main job: the local meta cluster, the operator, one tenant master from a Cluster object,
# and its admin kubeconfig (hack/demo.sh). It builds only what that needs: the meta cluster's
# Kubernetes, which is also the demo tenant's, and Helm 3.
DEMO_KUBERNETES_VERSION ?= $(KUBERNETES_VERSION:v%=%)
export DEMO_KUBERNETES_VERSION
demo:
	$(MAKE) images TENANT_VERSIONS=v$(DEMO_KUBERNETES_VERSION)
	hack/build-tools.sh helm3
	hack/demo.sh

lint:
	test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...

# The Helm charts, offline: helm lint --strict, ct lint, kubeconform -strict, values.schema.json.
lint-chart:
	hack/lint-chart.sh

test-unit:
	go test ./...

# End-to-end tests bring the local meta cluster up themselves when no KUBECONFIG is given.
test-e2e: images helm
	# kubeadm, for the tenant node that joins with `kubeadm join`.
	hack/build-k8s.sh $(KUBERNETES_VERSION) kubeadm
	# Prometheus and the Prometheus Operator's CRDs, for the chart's ServiceMonitor scraped for real;
	# the object store that etcd snapshots go to.
	hack/build-tools.sh prometheus monitoring-crds versitygw
	# Argo CD (from its module), Debian's redis-server and git: tenants synced from git by Argo CD.
	hack/install-deps.sh argocd
	hack/build-tools.sh argocd
	# The version table, and etcd snapshots, against the real binaries of every version in the cache (make test builds
	# 1.35, 1.36 and 1.37; make e2e-versions all supported minors).
	go test -tags realbinaries -count=1 ./versions/... ./postrender/... ./hooks/etcdsnapshot/
	go test -tags e2e -count=1 -timeout 80m -v ./test/e2e/...

test: lint lint-chart test-unit test-e2e

# Benchmarks on the local meta cluster; docs/benchmarks.md records their results, and the
# timelines they write to bench-out/ are what hack/cmd/phasechart draws. The cluster (and its
# images) stays up between them (TAOWA_E2E_KEEP); the last one tears it down between iterations.
BENCH := TAOWA_BENCH_OUT=$(CURDIR)/bench-out go test -tags e2e -count=1 -run '^$$' -timeout 60m ./test/e2e/...
bench: images helm bench-eni
	TAOWA_E2E_KEEP=1 $(BENCH) -bench TenantInstallToReady -benchtime 10x
	TAOWA_E2E_KEEP=1 $(BENCH) -bench TenantMinorUpgrade -benchtime 5x
	TAOWA_E2E_KEEP=1 $(BENCH) -bench ClusterToReady -benchtime 5x
	TAOWA_E2E_KEEP=1 $(BENCH) -bench TenantWake -benchtime 5x
	TAOWA_E2E_KEEP=1 $(BENCH) -bench FleetUpgrade -benchtime 1x
	TAOWA_E2E_KEEP=1 TAOWA_DENSITY_TENANTS=5 TAOWA_DENSITY_IDLE=1m $(BENCH) -bench Density -benchtime 1x
	$(BENCH) -bench MetaClusterUpAfterDown -benchtime 5x

# Tenants of the small profile installed one after another until 40 are Ready on the meta node,
# then 5 idle minutes measured (issue 14); about 20 minutes. Its plot goes to docs/density.png.
bench-density: images helm
	TAOWA_E2E_KEEP=1 $(BENCH) -bench Density -benchtime 1x -v
	go run ./hack/cmd/densitychart -in bench-out/density.json -out docs/density.png

# ADD and DEL latency (p50, p99) of the eni plugin against host-device, built from its module, on
# the same veth ENIs in one run: the ratios are in the output (docs/benchmarks.md records them).
CNI_PLUGINS_VERSION := v1.10.0
CNI_PLUGINS := $(TAOWA_CACHE)/tools/cni-plugins/$(CNI_PLUGINS_VERSION)
bench-eni:
	GOBIN=$(CNI_PLUGINS) go install github.com/containernetworking/plugins/plugins/main/host-device@$(CNI_PLUGINS_VERSION) \
	  github.com/containernetworking/plugins/plugins/ipam/static@$(CNI_PLUGINS_VERSION)
	go test -count=1 -run TestLatencyAgainstHostDevice -v ./cni-eni/eni -eni.latency-iterations=300 -eni.host-device-dir=$(CNI_PLUGINS)
