# mlenv: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/mlenv/mlenv/buildinfo.Version=$(VERSION) -X github.com/mlenv/mlenv/buildinfo.Commit=$(COMMIT)
BIN := bin/mlenv
# DEB_PACKAGES are the Debian packages the build and tests need.
DEB_PACKAGES := postgresql chromium slurmctld slurmd slurm-client munge libopenblas-dev

.PHONY: build demo test bench lint deps clean

build:
	go build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mlenv

# deps installs the system packages the build and tests need, when missing.
deps:
	@scripts/deps.sh $(DEB_PACKAGES)

# demo runs the main job on embedded defaults (scripts/demo.sh); it needs
# curl and jq to talk to the servers it starts.
demo: build
	@scripts/deps.sh curl jq
	@scripts/demo.sh $(BIN)

# test runs every test against real services: a throw-away PostgreSQL, a
# single-node Slurm and headless Chromium, none of which may be skipped here.
test: deps
	MLENV_TEST_CHROMIUM=required scripts/with-postgres.sh scripts/with-slurm.sh go test -count=1 ./...
	# The optional OpenBLAS GEMM (go build -tags openblas) against the same reference.
	go test -count=1 -tags openblas ./kernel/
	# The Kubernetes executor (go build -tags kubernetes; client-go is slow to compile).
	go test -count=1 -tags kubernetes ./launch/
	go vet -tags kubernetes ./cli/

bench: build
	@bench/run.sh $(BIN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	# mlenv must also build without cgo (pure Go, Go assembly kernels).
	CGO_ENABLED=0 go build ./...

clean:
	rm -rf bin
