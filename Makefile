# taowa: the two commands a new user needs are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

include hack/versions.env
export KUBERNETES_VERSION ETCD_VERSION COREDNS_VERSION HELM3_VERSION HELM4_VERSION

export TAOWA_CACHE ?= $(HOME)/.cache/taowa
export TAOWA_STATE ?= /var/lib/taowa-meta
BIN := $(CURDIR)/bin
METACLUSTER := $(BIN)/taowa-metacluster
KUBECTL := $(TAOWA_CACHE)/k8s/$(KUBERNETES_VERSION)/bin/kubectl

.PHONY: help deps binaries build up down status test test-unit test-e2e lint demo

help:
	@echo "make demo    bring up the local meta cluster (building what it needs) and show it"
	@echo "make test    every test: unit, lint, and end to end on the local meta cluster"
	@echo "make up | down | status    the local meta cluster alone"

deps: ## Debian packages (containerd, runc, CNI plugins, iptables, busybox, yamllint)
	hack/install-deps.sh

binaries: deps ## Kubernetes, etcd and CoreDNS, built once per version into $(TAOWA_CACHE)
	hack/build-k8s.sh $(KUBERNETES_VERSION)
	hack/build-tools.sh etcd coredns

build: ## the project's own binaries
	CGO_ENABLED=0 go build -trimpath -o $(METACLUSTER) ./hack/cmd/metacluster
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(BIN)/pause ./hack/cmd/pause

up: binaries build
	$(METACLUSTER) up

down: build
	$(METACLUSTER) down

status: build
	$(METACLUSTER) status

demo: up
	$(KUBECTL) --kubeconfig $(TAOWA_STATE)/kubeconfig get nodes,pods -A -o wide

lint:
	test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...

test-unit:
	go test ./...

# End-to-end tests bring the local meta cluster up themselves when no KUBECONFIG is given.
test-e2e: binaries build
	go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/...

test: lint test-unit test-e2e
