# cdrgw — run `make help` for the targets.
GO       ?= go
BIN      := bin/cdrgw
CONFIG   ?= config/example.yaml
FUZZTIME ?= 10s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: help build run test crash-test browser-test bench fuzz lint vet fmt clean

help: ## show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/cdrgw
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cdrgw

run: build ## start the gateway on the embedded store with the example config
	./scripts/run.sh $(BIN) $(CONFIG)

test: vet ## run every test with the race detector
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: demo
demo: build ## replay recorded Asterisk calls through the gateway to a receiver that prints them (<= 60 s)
	GO=$(GO) ./scripts/demo.sh $(BIN)

crash-test: ## kill the gateway at random moments and check nothing accepted is lost (SQLite and PostgreSQL)
	$(GO) test -race -count=1 -timeout 10m -run '^TestCrash' -v ./e2e

browser-test: ## drive the web console in headless Chromium (screenshots in e2e/testdata/out)
	$(GO) test -race -count=1 -timeout 5m -run '^TestBrowser' -v ./e2e

vet: ## go vet and gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: ## run the Go benchmarks (figures per operation)
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./...

fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint: vet ## static checks

clean: ## remove build output
	rm -rf bin
