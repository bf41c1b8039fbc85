// Package cloud builds the AWS adapters from a Lambda function's environment,
// so each function's main is a few lines of wiring.
package cloud

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/scenedex/scenedex/internal/bedrock"
	"github.com/scenedex/scenedex/internal/dynamo"
	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/lambdas"
	"github.com/scenedex/scenedex/internal/notify"
	"github.com/scenedex/scenedex/internal/osindex"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/sagemaker"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sfn"
	"github.com/scenedex/scenedex/internal/sqsq"
)

// Env is the functions' configuration, read from environment variables.
type Env struct {
	Bucket             string // BUCKET
	Table              string // TABLE
	QueueURL           string // CHUNK_QUEUE_URL
	OpenSearchEndpoint string // OPENSEARCH_ENDPOINT (https://...)
	OpenSearchService  string // OPENSEARCH_SERVICE: es (managed domain) or aoss (Serverless)
	OpenSearchIndex    string // OPENSEARCH_INDEX (default scenedex-chunks)
	OpenSearchReplicas *int   // OPENSEARCH_REPLICAS: number_of_replicas of a new index (unset: the cluster's default)
	ModelEndpoint      string // EMBEDDING_ENDPOINT (SageMaker endpoint name)
	BedrockModel       string // BEDROCK_MODEL_ID: embed with Amazon Bedrock instead (e.g. amazon.titan-embed-image-v1)
	EmbeddingDim       int    // EMBEDDING_DIM: the Bedrock model's embedding length (256, 384 or 1024)
	OCR                bool   // OCR=on: embed reads words on screen through the endpoint's OCR form
	S3PathStyle        bool   // S3_PATH_STYLE=true: path-style requests (S3-compatible endpoints, tests)
	ChunksDLQURL       string // CHUNKS_DLQ_URL and CHUNKS_DLQ_ARN: the chunk dead letters (the api lists and redrives them)
	ChunksDLQARN       string
	EventsDLQURL       string // EVENTS_DLQ_URL: Object Created events whose run never started
	EventBus           string // EVENT_BUS (default "default")
	StateMachineArn    string // STATE_MACHINE_ARN (the start function)
	FFmpegDir          string // FFMPEG_DIR (default /opt/bin: the layer)
	ChunkSeconds       float64
	MaxUploadBytes     int64
	WindowMaxReceives  int    // WINDOW_MAX_RECEIVES: the window queue's maxReceiveCount (the chunk function)
	WindowDLQARN       string // WINDOW_DLQ_ARN: the window queue's dead-letter queue (the chunk function)
	// SEARCH_MODEL_BUDGET: seconds a words search waits for the model
	// before answering from the words alone, with a note (default 8: API
	// Gateway gives the api 29 s).
	SearchModelBudget time.Duration
}

// ReadEnv reads Env from the process environment; missing required
// variables are an error naming them.
func ReadEnv(required ...string) (Env, error) { return ReadEnvFrom(os.Getenv, required...) }

// ReadEnvFrom is ReadEnv over a lookup of variables (a function's
// environment as the stack gives it, in the contract test).
func ReadEnvFrom(lookup func(string) string, required ...string) (Env, error) {
	getenv := func(k, def string) string {
		if v := lookup(k); v != "" {
			return v
		}
		return def
	}
	e := Env{
		Bucket: lookup("BUCKET"), Table: lookup("TABLE"), QueueURL: lookup("CHUNK_QUEUE_URL"),
		OpenSearchEndpoint: lookup("OPENSEARCH_ENDPOINT"), OpenSearchService: getenv("OPENSEARCH_SERVICE", "es"),
		OpenSearchIndex: getenv("OPENSEARCH_INDEX", "scenedex-chunks"), ModelEndpoint: lookup("EMBEDDING_ENDPOINT"),
		EventBus: getenv("EVENT_BUS", "default"), FFmpegDir: getenv("FFMPEG_DIR", "/opt/bin"),
		StateMachineArn: lookup("STATE_MACHINE_ARN"),
	}
	e.S3PathStyle = lookup("S3_PATH_STYLE") == "true"
	e.ChunksDLQURL, e.ChunksDLQARN, e.EventsDLQURL = lookup("CHUNKS_DLQ_URL"), lookup("CHUNKS_DLQ_ARN"), lookup("EVENTS_DLQ_URL")
	if v := lookup("OPENSEARCH_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return e, fmt.Errorf("OPENSEARCH_REPLICAS is %q: want a count", v)
		}
		e.OpenSearchReplicas = &n
	}
	switch v := getenv("OCR", "off"); v {
	case "on", "off":
		e.OCR = v == "on"
	default:
		return e, fmt.Errorf("OCR is %q: want on or off", v)
	}
	var err error
	e.BedrockModel = lookup("BEDROCK_MODEL_ID")
	if e.EmbeddingDim, err = strconv.Atoi(getenv("EMBEDDING_DIM", "1024")); err != nil {
		return e, fmt.Errorf("EMBEDDING_DIM: %w", err)
	}
	if e.ChunkSeconds, err = strconv.ParseFloat(getenv("CHUNK_SECONDS", "10"), 64); err != nil {
		return e, fmt.Errorf("CHUNK_SECONDS: %w", err)
	}
	if e.MaxUploadBytes, err = strconv.ParseInt(getenv("MAX_UPLOAD_BYTES", "53687091200"), 10, 64); err != nil {
		return e, fmt.Errorf("MAX_UPLOAD_BYTES: %w", err)
	}
	e.SearchModelBudget = pipeline.DefaultSearchModelBudget
	if v := lookup("SEARCH_MODEL_BUDGET"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs <= 0 {
			return e, fmt.Errorf("SEARCH_MODEL_BUDGET is %q: want seconds, e.g. 8", v)
		}
		e.SearchModelBudget = time.Duration(secs * float64(time.Second))
	}
	if v := lookup("WINDOW_MAX_RECEIVES"); v != "" {
		if e.WindowMaxReceives, err = strconv.Atoi(v); err != nil || e.WindowMaxReceives < 1 {
			return e, fmt.Errorf("WINDOW_MAX_RECEIVES is %q: want the window queue's maxReceiveCount, at least 1", v)
		}
	}
	e.WindowDLQARN = lookup("WINDOW_DLQ_ARN")
	for _, name := range required {
		// "A|B": one of them.
		set := false
		for _, alt := range strings.Split(name, "|") {
			set = set || lookup(alt) != ""
		}
		if !set {
			return e, fmt.Errorf("environment variable %s is required", strings.ReplaceAll(name, "|", " or "))
		}
	}
	return e, nil
}

// Build wires the pipeline and handlers from env and the default AWS config
// (the function's role). Adapters a function does not use stay nil.
func Build(ctx context.Context, e Env) (*lambdas.Functions, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return BuildWith(cfg, e)
}

// BuildWith is Build with a given AWS config.
func BuildWith(cfg aws.Config, e Env) (*lambdas.Functions, error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	fns := &lambdas.Functions{Log: log, Bucket: e.Bucket, WindowMaxReceives: e.WindowMaxReceives, WindowDLQArn: e.WindowDLQARN}
	// Each function's environment names only the services it uses; the
	// others stay nil and ReadEnv's required list guards against gaps.
	var (
		catalog scenedex.Catalog
		blobs   scenedex.Blobs
		index   scenedex.Index
		sender  scenedex.ChunkSender
		embed   scenedex.Embedder
		reader  scenedex.TextReader
		media   pipeline.Media
		models  scenedex.Models
	)
	if e.Table != "" {
		c := dynamo.New(dynamodb.NewFromConfig(cfg), e.Table)
		catalog, fns.Store, fns.Stale = c, c, c
	}
	if e.Bucket != "" {
		blobs = s3blob.New(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = e.S3PathStyle }), e.Bucket)
	}
	if e.OpenSearchEndpoint != "" {
		client, err := osindex.Connect(cfg, e.OpenSearchEndpoint, e.OpenSearchService)
		if err != nil {
			return nil, err
		}
		base := &osindex.Index{Client: client, Name: e.OpenSearchIndex, Serverless: e.OpenSearchService == "aoss", Replicas: e.OpenSearchReplicas}
		if store, ok := catalog.(osindex.StateStore); ok {
			// Which index is live, and the model switch under way, are a
			// record of the catalog's table.
			index = &osindex.Switching{Base: base, Store: store}
		} else {
			index = base
		}
	}
	if e.QueueURL != "" {
		sender = sqsq.New(sqs.NewFromConfig(cfg), e.QueueURL)
	}
	if e.ChunksDLQURL != "" {
		fns.DeadLetters = &sqsq.DeadLetters{Client: sqs.NewFromConfig(cfg), ChunksDLQURL: e.ChunksDLQURL, ChunksDLQARN: e.ChunksDLQARN,
			EventsDLQURL: e.EventsDLQURL, Starter: fns}
	}
	if e.BedrockModel != "" {
		// No model to host; Titan has no OCR form, so words on screen are
		// read only with a SageMaker endpoint.
		b, err := bedrock.New(bedrockruntime.NewFromConfig(cfg), e.BedrockModel, e.EmbeddingDim)
		if err != nil {
			return nil, err
		}
		embed = b
	} else if e.ModelEndpoint != "" {
		sm := sagemaker.New(sagemakerruntime.NewFromConfig(cfg), e.ModelEndpoint)
		embed, models = sm, sagemaker.Models{E: sm} // the endpoint serves its models by name
		if e.OCR {
			reader = sm // the same endpoint's OCR form
		}
	}
	if _, err := os.Stat(e.FFmpegDir); err == nil {
		tool, err := ffmpeg.Find(e.FFmpegDir)
		if err != nil {
			return nil, err
		}
		media = tool
	}
	sfnClient := awssfn.NewFromConfig(cfg)
	fns.Tokens = sfn.Tokens{Client: sfnClient}
	fns.Starter = sfn.Starter{Client: sfnClient, StateMachineArn: e.StateMachineArn}
	fns.Events = notify.Publisher{Client: eventbridge.NewFromConfig(cfg), Bus: e.EventBus}
	p := pipeline.New(pipeline.Config{ChunkSeconds: e.ChunkSeconds, MaxUploadBytes: e.MaxUploadBytes, WorkDir: os.TempDir(),
		SearchModelBudget: e.SearchModelBudget},
		blobs, catalog, index, embed, sender, media, log)
	p.Reader, p.Models = reader, models
	if e.StateMachineArn != "" {
		p.Rerunner = fns // the api reprocesses FAILED videos through new runs
	}
	fns.P = p
	return fns, nil
}

// Run is a function's whole main: read the environment (failing fast on a
// missing variable), build the adapters, start the Lambda runtime with the
// handler pick chooses.
func Run(pick func(*lambdas.Functions) any, required ...string) {
	env, err := ReadEnv(required...)
	if err != nil {
		log.Fatal(err)
	}
	fns, err := Build(context.Background(), env)
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(pick(fns))
}
