# scenedex — `make run` and `make test` set up everything they need.
GO      ?= go
BIN     := bin/scenedex
ADDR    ?= 127.0.0.1:8080
DATA    ?= ./.scenedex

.PHONY: all deps build build-cli run test bench vet fmt clean

all: build-cli

deps:
	@./scripts/ensure-ffmpeg.sh
	@$(GO) mod download

build-cli: deps
	$(GO) build -trimpath -o $(BIN) ./cmd/scenedex

## run: the whole pipeline on this machine (API + local S3 + workers + model) on $(ADDR)
run: build-cli
	$(BIN) serve --addr $(ADDR) --data $(DATA)

## test: every test, with real ffmpeg, HTTP, SQLite
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

## bench: chunking vs raw ffmpeg, seconds to searchable, search latency at 10k/100k
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 30m ./internal/pipeline/ ./internal/local/
	$(GO) test -run '^$$' -bench . -benchtime 200x -timeout 30m ./internal/vecindex/

vet:
	$(GO) vet ./...

fmt:
	gofmt -w .

clean:
	rm -rf bin dist

FUNCTIONS := $(notdir $(wildcard functions/*))

## build: every Lambda function for linux/arm64 as dist/<name>/bootstrap, zipped to dist/<name>.zip
build:
	@mkdir -p dist
	@for f in $(FUNCTIONS); do \
		echo "building $$f"; \
		mkdir -p dist/$$f && \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' \
			-o dist/$$f/bootstrap ./functions/$$f || exit 1; \
		rm -f dist/$$f.zip; (cd dist/$$f && touch -d @0 bootstrap && zip -q -X ../$$f.zip bootstrap) || exit 1; \
	done
