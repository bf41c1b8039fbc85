# scenedex — `make run` and `make test` set up everything they need.
GO      ?= go
BIN     := bin/scenedex
ADDR    ?= 127.0.0.1:8080
DATA    ?= ./.scenedex

.PHONY: all deps build build-cli layer run test bench vet fmt clean

all: build-cli

deps:
	@./scripts/ensure-tools.sh
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

## build: every Lambda function for linux/arm64 as dist/<name>/bootstrap, zipped to dist/<name>.zip
build: deps
	@OUT=dist GO=$(GO) ./scripts/build-functions.sh

## layer: the ffmpeg/ffprobe Lambda layer for arm64 (pinned, checksummed npm packages) in dist/layer-ffmpeg/bin
layer:
	rm -rf dist/layer-ffmpeg
	./layers/ffmpeg/build.sh arm64 dist/layer-ffmpeg
