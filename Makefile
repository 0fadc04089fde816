# Provisor build, test and benchmark entry points. See README.md.
GO        ?= go
BIN       := bin/provisor
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
STATICCHECK_VERSION := v0.8.2

.PHONY: run build plugins proto test vet lint bench fuzz clean

## run: build the ACS and start it with its embedded defaults (CPE endpoint :7547, data in ./data)
run: build plugins
	PROVISOR_PLUGINS_DIR=bin/plugins ./$(BIN) serve

## build: build the provisor binary into ./bin
build:
	$(GO) build -o $(BIN) ./core/cmd/provisor

## plugins: build the bundled plugins into bin/plugins/<id>/ with manifest and checksum
plugins: build
	mkdir -p bin/plugins/mikrotik
	cd plugins/mikrotik && GOWORK=off $(GO) build -o ../../bin/plugins/mikrotik/provisor-plugin-mikrotik .
	cp plugins/mikrotik/plugin.json bin/plugins/mikrotik/
	./$(BIN) plugin check -dir bin/plugins -write-sums

## proto: regenerate the plugin wire protocol (needs protoc: apt-get install protobuf-compiler)
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	cd sdk && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --proto_path=proto \
	  --go_out=. --go_opt=module=github.com/provisor/provisor/sdk \
	  --go-grpc_out=. --go-grpc_opt=module=github.com/provisor/provisor/sdk \
	  proto/provisor/plugin/v1/plugin.proto

## test: vet and run every test of every module with the race detector
test: vet
	cd sdk && $(GO) test -race -count=1 ./...
	cd plugins/mikrotik && GOWORK=off $(GO) test -race -count=1 ./...
	cd examples/plugin-minimal && GOWORK=off $(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...
	cd plugins/mikrotik && GOWORK=off $(GO) vet ./...
	cd examples/plugin-minimal && GOWORK=off $(GO) vet ./...

## lint: formatting, vet and staticcheck
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	cd sdk && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	cd plugins/mikrotik && GOWORK=off $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	cd examples/plugin-minimal && GOWORK=off $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: load scenarios against a fresh ACS on loopback (bench/run.sh), then the codec, store and session micro-benchmarks beside their baselines
bench:
	./bench/run.sh
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./core/internal/soap/ ./core/internal/store/... ./core/internal/server/

## fuzz: a short run of every fuzz target (FUZZTIME each)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin
