# rulesync build and test entry points. `make test` is what CI runs.
GO       ?= go
PKGS     ?= ./...
BENCHTIME ?= 1s
FUZZTIME ?= 200000x

.PHONY: test setup vet fmt-check unit bench fuzz

## test: install what the tests need (modules, servers), then vet, gofmt and race tests.
test: setup vet fmt-check
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## setup: idempotent install of Go modules and the test servers (redis-server, etcd).
setup:
	./scripts/setup.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## unit: the tests without the setup step (servers missing -> integration suites skip).
unit:
	$(GO) test -race -count=1 $(PKGS)

## bench: every Go benchmark, with allocations; results go to BENCHMARKS.md by hand.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each (a count like 200000x, or a duration).
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)
