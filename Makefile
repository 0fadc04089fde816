# Provisor build, test and benchmark entry points. See README.md.
GO        ?= go
BIN       := bin/provisor
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
STATICCHECK_VERSION := v0.8.2

.PHONY: run build test vet lint bench fuzz clean

## run: build the ACS and start it with its embedded defaults (CPE endpoint :7547, data in ./data)
run: build
	./$(BIN) serve

## build: build the provisor binary into ./bin
build:
	$(GO) build -o $(BIN) ./core/cmd/provisor

## test: vet and run every test of every module with the race detector
test: vet
	cd sdk && $(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...

## lint: formatting, vet and staticcheck
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	cd sdk && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: codec and store micro-benchmarks, each against a baseline measured in the same run
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./core/...

## fuzz: a short run of every fuzz target (FUZZTIME each)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin
