# Batch data platform: PySpark + Delta jobs, local MinIO/FerretDB, read-only API.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
export PATH := $(HOME)/.cache/dataplatform/bin:$(PATH)

.PHONY: help setup services services-down cluster cluster-down images k8s-binaries k8s-up k8s-down k8s-e2e test test-unit lint bench demo run api clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}'

$(VENV_STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt ".[dev]"
	@touch $@

setup: $(VENV_STAMP) ## Create .venv, install pinned deps, fetch jars, build jvm/, MinIO/FerretDB/helm, operator CRDs (idempotent)
	scripts/fetch_jars.sh
	scripts/build_jvm.sh
	$(PY) -m common.class_archive
	scripts/build_servers.sh
	scripts/fetch_crds.sh
	scripts/setup_web.sh

services: ## Start MinIO (127.0.0.1:9000) and FerretDB (127.0.0.1:27017); harmless if already up
	scripts/services.sh start

services-down: ## Stop the local services started by `make services`
	scripts/services.sh stop

cluster: $(VENV_STAMP) ## Spark standalone master + 2 workers (1 core each) from the venv's pyspark; `scripts/cluster.sh env` prints SPARK_MASTER
	scripts/cluster.sh start

cluster-down: ## Stop the cluster started by `make cluster` (by PID)
	scripts/cluster.sh stop

images: ## Container images with podman, offline (scripts/images.sh): spark, api, + operator/minio/ferretdb/pause once built
	scripts/k8s_packages.sh
	scripts/images.sh build

k8s-binaries: ## Build the local Kubernetes binaries, etcd, CoreDNS and the spark-operator (cached under ~/.cache)
	scripts/k8s_packages.sh
	scripts/build_k8s.sh

k8s-up: k8s-binaries images ## Start the single-node Kubernetes cluster (root; KUBECONFIG: `scripts/k8s.sh env`)
	scripts/k8s.sh up

k8s-down: ## Stop the Kubernetes cluster and remove everything it made
	scripts/k8s.sh down

k8s-e2e: setup k8s-binaries images ## Cluster up, operator + chart installed, every SparkApplication run to its answer, cluster down
	scripts/k8s_e2e.sh

test: setup services k8s-binaries images ## Every test (unit, integration, e2e, browser, k8s) against the local services
	scripts/run_tests.sh

test-unit: $(VENV_STAMP) ## Only the fast unit tests (no services)
	$(PY) -m pytest -m unit -q

lint: $(VENV_STAMP) ## ruff and mypy --strict
	.venv/bin/ruff check .
	.venv/bin/ruff format --check common jobs api emulators demo
	.venv/bin/mypy common jobs api emulators demo

bench: setup services ## Benchmarks (results in bench/results/)
	scripts/run_bench.sh

demo: ## Whole platform offline (starts services + emulators, runs the jobs, serves the API; Ctrl-C stops all)
	scripts/setup_demo.sh
	$(PY) -m demo

run: setup ## The three jobs against the real services (needs GITHUB_TOKEN and network)
	scripts/run_real.sh

api: $(VENV_STAMP) ## Serve the API on API_HOST:API_PORT
	$(PY) -m api

clean: services-down ## Remove local state (lake, services data)
	rm -rf lake .services
