# Everything needs only Go (and, for the template lint, cfn-lint: see README).
GO       ?= go
BIN      := bin
PKG_MAIN := ./functions/contracts
# Flags of every bootstrap: no RPC mode (provided.al2023 uses the Runtime API),
# reproducible paths, stripped symbols; a static binary either way.
# CRYPTO=boring builds with Go's BoringCrypto (about 1.6x faster RSA, README
# Performance): it needs cgo, so the binary is linked statically with the C
# toolchain (for arm64: apt-get install gcc-aarch64-linux-gnu).
ifeq ($(CRYPTO),boring)
CRYPTO_ENV   := GOEXPERIMENT=boringcrypto CGO_ENABLED=1
BUILD_FLAGS  := -tags lambda.norpc,netgo,osusergo -trimpath -ldflags='-s -w -linkmode external -extldflags -static'
ARM64_CC     := CC=aarch64-linux-gnu-gcc
else
CRYPTO_ENV   := CGO_ENABLED=0
BUILD_FLAGS  := -tags lambda.norpc -trimpath -ldflags='-s -w'
ARM64_CC     :=
endif
FUZZTIME ?= 30s

.PHONY: all build build-arm64 run test vet fmt-check lint bench fuzz secret clean

all: test

## build: the bootstrap for this machine's architecture, in bin/bootstrap
build:
	$(CRYPTO_ENV) GOOS=linux $(GO) build $(BUILD_FLAGS) -o $(BIN)/bootstrap $(PKG_MAIN)

## build-arm64: the bootstrap SAM deploys (arm64), in bin/arm64/bootstrap
build-arm64:
	$(CRYPTO_ENV) $(ARM64_CC) GOOS=linux GOARCH=arm64 $(GO) build $(BUILD_FLAGS) -o $(BIN)/arm64/bootstrap $(PKG_MAIN)

# sam build runs this target on whatever host it is on: the target sets the
# platform itself. It always builds with Go's own crypto (see README,
# Performance, for deploying the BoringCrypto build instead).
build-ContractsFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap $(PKG_MAIN)

## run: the whole product locally on 127.0.0.1:3000 (simulator, secrets, emulator)
# (built, then exec'd: go run would exit 1 on Ctrl-C whatever devstack returns)
run:
	$(GO) build -o .local/bin/devstack ./cmd/devstack && exec .local/bin/devstack $(if $(MODE),-mode $(MODE))

## test: every test, the end-to-end ones under the Lambda runtime emulator included
test: fmt-check vet
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## lint: the SAM template with cfn-lint (also run by make test, from internal/deploy)
lint:
	cfn-lint template.yaml

## bench: benchmarks, benchstat-friendly (make bench > new.txt; benchstat old.txt new.txt),
## at GOMAXPROCS=1 as the function is deployed (config.GoRuntimeEnv)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 -cpu 1 ./internal/... ./bench/...

## fuzz: each fuzzer for FUZZTIME
fuzz:
	@$(GO) list -f '{{.ImportPath}}' ./... | while read pkg; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## secret: build the merchant secret JSON from key files (see README, Deploy)
secret:
	$(GO) run ./cmd/makesecret $(ARGS)

clean:
	rm -rf $(BIN) .aws-sam
