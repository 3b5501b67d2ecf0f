# eventfold: two commands do everything from a fresh clone.
#   make run   dev mode: in-process Kafka + one node + demo data (no Kafka needed)
#   make test  go vet + the race-enabled unit and kfake integration tests
GO        ?= go
HTTP      ?= :8080
GOFLAGS   ?=
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: run test test-short test-kafka build vet bench fuzz mutate clean

run:
	$(GO) run ./cmd/eventfold dev --http $(HTTP)

build:
	$(GO) build -o bin/eventfold ./cmd/eventfold

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

test: vet
	$(GO) run ./mutate -check
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "$$EVENTFOLD_CHROMIUM" ] || \
		echo "NOTE: no Chromium found: the console's browser tests (console/) are SKIPPED. apt-get install chromium (.ci/run does)."
	$(GO) test $(TESTFLAGS) ./...

test-short: vet
	$(GO) test -short $(TESTFLAGS) ./...

# System tests against Apache Kafka itself (fetched from Maven Central,
# KRaft mode on loopback). Needs Java 17+ and Maven; the script installs
# them when missing.
test-kafka:
	bash systemtest/run.sh

# Benchmarks side by side on one Apache Kafka broker: eventfold vs plain goka
# vs Kafka Streams (bench/README.md). Not part of `make test`.
# BENCH_EVENTS=200000 for a quick run.
bench:
	bash bench/run.sh

# Every fuzz target for FUZZTIME each (default 30s); `make test` runs their
# seed corpora. By hand, not in CI.
fuzz:
	bash scripts/fuzz.sh

# Mutation testing (docs/testing.md): applies each mutant of
# mutate/mutants.txt in a temporary copy of the tree, runs the tests that
# should kill it and prints the score and the survivors. Not part of
# `make test`; ~15 min on 2 cores. MUTATEFLAGS='-run fold- -j 2' to narrow.
MUTATEFLAGS ?=
mutate:
	$(GO) run ./mutate $(MUTATEFLAGS)

clean:
	rm -rf bin data
