# cairn's documented entry points: build, run, test, bench, lint, fuzz.
# Variables in CAPITALS can be overridden: make bench BENCHTIME=5s

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
BIN := bin/cairn

# Stamped into the binary; `cairn version` prints them.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# The version is stamped with -X above, so Go's own VCS stamping is off:
# it fails in CI containers whose checkout belongs to another user. Flags
# already in the caller's GOFLAGS come later and win.
export GOFLAGS := -buildvcs=false $(GOFLAGS)

TEST_TIMEOUT ?= 25m
TESTFLAGS ?=
BENCHTIME ?= 1s
BENCH ?= .
FUZZTIME ?= 15s

# Where `make run` keeps its nodes' data and logs, and how many it starts.
RUN_DATA ?= ./data/local
RUN_NODES ?= 3
# More flags for cairn local, e.g. make run RUN_FLAGS=--tls
RUN_FLAGS ?=

.PHONY: build run test test-deps vet lint bench fuzz clean

## build: a static binary in bin/cairn
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cairn

## run: build, then start a local cluster of RUN_NODES nodes (Ctrl-C stops it)
run: build
	$(BIN) local --nodes $(RUN_NODES) --data-dir $(RUN_DATA) $(RUN_FLAGS)

## test: vet and run every test with the race detector; the run ends
## with every skipped test and its reason (plain go test hides them)
test: test-deps vet
	$(GO) build -o bin/testreport ./tools/testreport
	$(GO) test -json -race -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./... | bin/testreport

## test-plain: the same tests through plain go test output
.PHONY: test-plain
test-plain: test-deps vet
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./...

# test-deps installs what the tests need and the machine lacks, when we
# may install packages (root with apt-get): fuse3 for the FUSE mounts,
# rsync for the mount's rsync test, etcd for the bench harness's etcd
# target; and the nats CLI (built with go install) for the CLI
# compatibility test. Tests that still find one missing skip and say what
# is missing.
TEST_PACKAGES := fusermount3:fuse3 rsync:rsync etcd:etcd-server
# The nats CLI is not packaged by Debian; test-deps builds this version.
NATSCLI_VERSION ?= v0.5.0
test-deps:
	@missing=""; \
	for pair in $(TEST_PACKAGES); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing$$missing"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y $$missing || { apt-get update && apt-get install -y $$missing; } \
				|| echo "warning: could not install$$missing; tests that need them will skip" >&2; \
		else \
			echo "warning:$$missing missing and cannot be installed here; tests that need them will skip" >&2; \
		fi; \
	fi
	@if ! command -v nats >/dev/null 2>&1 && [ ! -x bin/tools/nats ]; then \
		echo "building the nats CLI $(NATSCLI_VERSION) into bin/tools (for the nats CLI compatibility test)"; \
		GOBIN="$(CURDIR)/bin/tools" $(GO) install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION) \
			|| echo "warning: could not build the nats CLI; its compatibility test will skip" >&2; \
	fi

vet:
	$(GO) vet ./...

## lint: fail on unformatted files, then vet
lint: vet
	@unformatted="$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt needed on:"; echo "$$unformatted"; exit 1; \
	fi

## bench: storage and node benchmarks, saved with the command that made them
bench:
	@mkdir -p bench-results
	@out="bench-results/bench-$$(date -u +%Y%m%dT%H%M%SZ).txt"; \
	cmd="$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./storage/... ./node/..."; \
	{ echo "# $$cmd"; echo "# $$($(GO) version), $$(nproc) CPUs, commit $(COMMIT)"; eval "$$cmd"; } | tee "$$out"; \
	echo "saved in $$out"

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	@found=0; \
	for dir in $$($(GO) list -f '{{.Dir}}' ./...); do \
		for target in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]*' "$$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do \
			found=1; \
			echo "== $$target in $$dir"; \
			(cd "$$dir" && $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) .); \
		done; \
	done; \
	if [ "$$found" = 0 ]; then echo "no fuzz targets yet"; fi

clean:
	rm -rf bin

## bench-compare: cairn vs nats-server vs etcd, 3-node clusters on loopback,
## results in bench-results/compare-TIME (JSON, Markdown, HTML). Installs
## etcd (and Debian's nats-server) if missing; compares against the newest
## nats-server, built from the module in go.mod.
## Shorter or single-node: make bench-compare COMPARE_FLAGS="--nodes 1 --duration 5s"
## Ratios that hold on a noisy machine: COMPARE_FLAGS="--clients 64 --workloads put,get --rounds 5"
BENCH_TOOLS ?= bin/bench-tools
COMPARE_FLAGS ?= --duration 10s --clients 64
.PHONY: bench-compare
bench-compare: build
	@if ! command -v etcd >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y nats-server etcd-server etcd-client \
				|| { apt-get update && apt-get install -y nats-server etcd-server etcd-client; }; \
		else \
			echo "etcd is missing; as root: apt-get install -y nats-server etcd-server etcd-client" >&2; exit 1; \
		fi; \
	fi
	@mkdir -p $(BENCH_TOOLS)
	@if $(GO) build -o $(BENCH_TOOLS)/nats-server github.com/nats-io/nats-server/v2; then \
		echo "$$($(BENCH_TOOLS)/nats-server --version) (built from go.mod)"; \
	else \
		echo "could not build nats-server; using $$(command -v nats-server)" >&2; \
		ln -sf "$$(command -v nats-server)" $(BENCH_TOOLS)/nats-server; \
	fi
	$(BIN) bench compare --nats-bin $(BENCH_TOOLS)/nats-server --etcd-bin "$$(command -v etcd)" $(COMPARE_FLAGS)

## image: build bin/cairn, then the container image IMAGE from it (FROM scratch)
## compose-up / compose-down: a three-node cluster in containers (docker-compose.cluster.yml)
## test-compose: only the Docker end-to-end test (image, compose, kill, catch-up)
IMAGE ?= cairn:latest
COMPOSE_PROJECT ?= cairn
# `docker compose` (v2) when the engine's CLI has it, else docker-compose (v1).
DOCKER_COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
.PHONY: image compose-up compose-down test-compose
image: build
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

compose-up: image
	CAIRN_IMAGE=$(IMAGE) $(DOCKER_COMPOSE) -p $(COMPOSE_PROJECT) -f docker-compose.cluster.yml up -d
	@echo "clients: nats://127.0.0.1:4222,4223,4224  HTTP: http://127.0.0.1:8222,8223,8224"

# Keeps the volumes (the data); add -v by hand to remove them.
compose-down:
	$(DOCKER_COMPOSE) -p $(COMPOSE_PROJECT) -f docker-compose.cluster.yml down

test-compose:
	$(GO) test -count=1 -timeout 10m -run '^TestE2ECompose' -v ./cmd/cairn

## docs: regenerate docs/configuration.md from the code (a test fails when it drifts)
.PHONY: docs
docs:
	$(GO) generate ./cmd/cairn

## chaos: a long chaos run: CHAOS_NODES cairn nodes for CHAOS_DURATION with
## every nemesis (network and disk faults need root); report and node logs
## in chaos-results/TIME. Shorter: make chaos CHAOS_DURATION=2m CHAOS_NODES=3
## Against nats-server: make chaos CHAOS_FLAGS="--target nats --bin /tmp/nats-server"
CHAOS_NODES ?= 5
CHAOS_DURATION ?= 10m
CHAOS_FLAGS ?=
.PHONY: chaos
chaos: build
	$(BIN) chaos run --nodes $(CHAOS_NODES) --duration $(CHAOS_DURATION) --nemesis all $(CHAOS_FLAGS)
