package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssagemaker"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Config is what the stack is built from: cdk.json context plus paths.
type Config struct {
	SearchEngine      string // "domain" (default) or "serverless"
	EmbeddingEndpoint string // an existing SageMaker endpoint; "" deploys the project's model
	// Embedder is "sagemaker" (default: the project's model, or
	// EmbeddingEndpoint) or "bedrock": Amazon Bedrock's Titan Multimodal
	// Embeddings, no model to host and no Docker (and no OCR).
	Embedder     string
	BedrockModel string // default amazon.titan-embed-image-v1
	EmbeddingDim int    // Bedrock's embedding length: 256, 384 or 1024 (default 1024)
	// Model is the CLIP-family model the project's image carries (fetched
	// while it is built): "clip-vit-base-patch32" (default), or "none" for
	// the built-in descriptor (an image build with no download).
	Model string
	// OCR reads words on screen through the endpoint's OCR form: "on" or
	// "off"; "" means on with the project's model (which has it) and off with
	// an existing endpoint (which may not).
	OCR          string
	SourceBucket string   // an existing bucket to take videos from; "" creates one
	CorsOrigins  []string // browser origins besides the web app's that may PUT to and read from the media bucket
	// App hosts the web app (CloudFront, Cognito, a JWT-authorized API):
	// "on" (default) or "off".
	App              string
	FunctionsDir     string // make build's output: <dir>/<function>/bootstrap
	LayerDir         string // make layer's output: <dir>/bin/ffmpeg, ffprobe
	RepoDir          string // build context of the model image
	Workflow         WorkflowOptions
	EmbedConcurrency int // most embed functions at once: protects the model endpoint
	// ChunkConcurrency is the window queue's event source MaximumConcurrency:
	// the most windows cut at once across all videos (AWS minimum 2). It
	// reserves nothing: a backlog of videos waits in the queue.
	ChunkConcurrency int
	// ChunkReservedConcurrency (opt-in, 0 = none) reserves account concurrency
	// for chunk. AWS refuses a reservation that leaves fewer than 100 of the
	// account's concurrent executions unreserved (PutFunctionConcurrency), so
	// on an account whose limit is under 100 + this, the stack cannot deploy.
	ChunkReservedConcurrency int
	// WindowWaitHours and EmbedWaitHours are the longest a video waits for a
	// window to be cut and for its embeddings (queued behind other videos);
	// both under the queues' 14-day retention. They set Workflow's waits.
	WindowWaitHours int
	EmbedWaitHours  int
	// AlarmEmail receives the alarms (an SNS email subscription; "" none:
	// subscribe to the AlarmTopic output yourself).
	AlarmEmail string
	// ServerlessConcurrencyQuota is the account's SageMaker serverless
	// endpoint concurrency quota (default 10): the project's endpoint asks
	// for 2 × EmbedConcurrency and synth refuses more than the quota.
	ServerlessConcurrencyQuota int
	MaxUploadBytes             int64 // largest upload the API accepts
}

func (c *Config) defaults() {
	if c.SearchEngine == "" {
		c.SearchEngine = "domain"
	}
	if c.App == "" {
		c.App = "on"
	}
	if c.Embedder == "" {
		c.Embedder = "sagemaker"
	}
	if c.Model == "" {
		c.Model = "clip-vit-base-patch32"
	}
	if c.BedrockModel == "" {
		c.BedrockModel = "amazon.titan-embed-image-v1"
	}
	if c.EmbeddingDim == 0 {
		c.EmbeddingDim = 1024
	}
	if c.OCR == "" {
		c.OCR = "on"
		if c.EmbeddingEndpoint != "" || c.Embedder == "bedrock" {
			c.OCR = "off"
		}
	}
	if c.Workflow.MapConcurrency == 0 {
		c.Workflow.MapConcurrency = 4
	}
	if c.WindowWaitHours == 0 {
		c.WindowWaitHours = 72
	}
	if c.EmbedWaitHours == 0 {
		c.EmbedWaitHours = 72
	}
	c.Workflow.WindowWaitSecs, c.Workflow.EmbedWaitSecs = c.WindowWaitHours*3600, c.EmbedWaitHours*3600
	if c.EmbedConcurrency == 0 {
		c.EmbedConcurrency = 5
	}
	if c.ChunkConcurrency == 0 {
		c.ChunkConcurrency = 10
	}
	if c.ServerlessConcurrencyQuota == 0 {
		c.ServerlessConcurrencyQuota = 10
	}
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = 50 << 30
	}
}

const indexName = "scenedex-chunks"

// NewStack builds the whole pipeline.
func NewStack(scope constructs.Construct, id string, props *awscdk.StackProps, cfg Config) awscdk.Stack {
	cfg.defaults()
	if cfg.OCR != "on" && cfg.OCR != "off" {
		panic(fmt.Sprintf("-c ocr=%s: want on or off", cfg.OCR))
	}
	switch {
	case cfg.Embedder != "sagemaker" && cfg.Embedder != "bedrock":
		panic(fmt.Sprintf("-c embedder=%s: want sagemaker or bedrock", cfg.Embedder))
	case cfg.Embedder == "bedrock" && cfg.OCR == "on":
		panic("-c embedder=bedrock -c ocr=on: Bedrock's Titan has no OCR form; words on screen need a SageMaker endpoint")
	case cfg.Embedder == "bedrock" && cfg.EmbeddingDim != 256 && cfg.EmbeddingDim != 384 && cfg.EmbeddingDim != 1024:
		panic(fmt.Sprintf("-c embeddingDim=%d: Titan Multimodal answers 256, 384 or 1024", cfg.EmbeddingDim))
	}
	if cfg.App != "on" && cfg.App != "off" {
		panic(fmt.Sprintf("-c app=%s: want on or off", cfg.App))
	}
	if cfg.EmbedConcurrency < 2 {
		panic(fmt.Sprintf("-c embedConcurrency=%d: the SQS event source's maximum concurrency is at least 2", cfg.EmbedConcurrency))
	}
	if cfg.ChunkConcurrency < 2 || cfg.ChunkConcurrency > 1000 {
		panic(fmt.Sprintf("-c chunkConcurrency=%d: the window queue's event source takes a maximum concurrency from 2 to 1000", cfg.ChunkConcurrency))
	}
	if cfg.ChunkReservedConcurrency < 0 || (cfg.ChunkReservedConcurrency > 0 && cfg.ChunkReservedConcurrency < cfg.ChunkConcurrency) {
		panic(fmt.Sprintf("-c chunkReservedConcurrency=%d: want 0 (none) or at least chunkConcurrency (%d), or the window queue's event source is throttled",
			cfg.ChunkReservedConcurrency, cfg.ChunkConcurrency))
	}
	for _, w := range []struct {
		name  string
		hours int
	}{{"windowWaitHours", cfg.WindowWaitHours}, {"embedWaitHours", cfg.EmbedWaitHours}} {
		if w.hours < 1 || w.hours >= queueRetentionDays*24 {
			panic(fmt.Sprintf("-c %s=%d: want 1 to %d hours, under the queues' %d-day retention (a message must outlive its wait)",
				w.name, w.hours, queueRetentionDays*24-1, queueRetentionDays))
		}
	}
	if need := endpointConcurrency(cfg); need > cfg.ServerlessConcurrencyQuota {
		panic(fmt.Sprintf("-c embedConcurrency=%d: the model's serverless endpoint needs a MaxConcurrency of %d (2 × embedConcurrency), "+
			"over this account's serverless concurrency quota of %d (-c serverlessConcurrencyQuota). "+
			"Lower embedConcurrency to %d or less, or raise the quota (Service Quotas: SageMaker, "+
			"\"Maximum total concurrency that can be allocated across all serverless endpoints\") and set serverlessConcurrencyQuota to it",
			cfg.EmbedConcurrency, need, cfg.ServerlessConcurrencyQuota, cfg.ServerlessConcurrencyQuota/2))
	}
	stack := awscdk.NewStack(scope, &id, props)
	s := &builder{stack: stack, cfg: cfg, fns: map[string]awslambda.Function{}}
	s.storage()
	s.search()
	s.model()
	s.functions()
	if s.finishSearch != nil {
		s.finishSearch()
	}
	s.workflow()
	s.api()
	if cfg.App == "on" {
		s.webApp()
	}
	s.cors()
	s.monitoring()
	s.suppressions()
	return stack
}

type builder struct {
	stack      awscdk.Stack
	cfg        Config
	logs       awss3.Bucket
	bucket     awss3.IBucket
	table      awsdynamodb.Table
	queue      awssqs.Queue
	dlq        awssqs.Queue
	windows    awssqs.Queue // one message per window to cut; chunk consumes it
	windowsDLQ awssqs.Queue
	alarms     awssns.Topic
	eventDLQ   awssqs.Queue
	eventQ     awssqs.Queue
	layer      awslambda.LayerVersion
	fns        map[string]awslambda.Function
	machine    awsstepfunctions.StateMachine
	httpAPI    awsapigatewayv2.HttpApi
	appOrigin  string // the web app's https origin ("" without it)
	osEndpoint *string
	osService  string
	osGrant    func(grantee awsiam.IGrantable, write bool)
	// osPipelineGrant lets a function keep the hybrid search pipeline (nil:
	// Serverless, where the collection's data policy governs).
	osPipelineGrant func(grantee awsiam.IGrantable)
	finishSearch    func()  // Serverless: the data-access policy, once the roles exist
	endpoint        *string // SageMaker endpoint name
	endpointArn     *string
	modelArn        *string // the Bedrock foundation model (embedder=bedrock)
}

func (s *builder) str(v string) *string { return jsii.String(v) }

// ---- storage: buckets, table, queues ----

func (s *builder) storage() {
	s.logs = awss3.NewBucket(s.stack, s.str("AccessLogs"), &awss3.BucketProps{
		Encryption: awss3.BucketEncryption_S3_MANAGED, EnforceSSL: jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(), ObjectOwnership: awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		LifecycleRules: &[]*awss3.LifecycleRule{{Expiration: awscdk.Duration_Days(jsii.Number(90))}},
		RemovalPolicy:  awscdk.RemovalPolicy_RETAIN,
	})
	if s.cfg.SourceBucket != "" {
		// The owner must switch on "Send notifications to Amazon EventBridge"
		// on that bucket (README: drop-in for an existing bucket).
		s.bucket = awss3.Bucket_FromBucketName(s.stack, s.str("Media"), s.str(s.cfg.SourceBucket))
	} else {
		s.bucket = awss3.NewBucket(s.stack, s.str("Media"), &awss3.BucketProps{
			Encryption: awss3.BucketEncryption_S3_MANAGED, EnforceSSL: jsii.Bool(true), Versioned: jsii.Bool(false),
			BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(), EventBridgeEnabled: jsii.Bool(true),
			ServerAccessLogsBucket: s.logs, ServerAccessLogsPrefix: s.str("media/"),
			LifecycleRules: &[]*awss3.LifecycleRule{{
				Id: s.str("abandoned-multipart-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
			}},
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
	}
	s.table = awsdynamodb.NewTable(s.stack, s.str("Catalog"), &awsdynamodb.TableProps{
		PartitionKey:                     &awsdynamodb.Attribute{Name: s.str("pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:                          &awsdynamodb.Attribute{Name: s.str("sk"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
		Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:                    awscdk.RemovalPolicy_RETAIN,
	})
	s.table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{IndexName: s.str("by-collection"),
		PartitionKey: &awsdynamodb.Attribute{Name: s.str("collection"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: s.str("created_at"), Type: awsdynamodb.AttributeType_STRING}})
	// Sparse indexes (internal/dynamo): only video items carry "entity", only
	// UPLOADING ones "pending" — listing and the sweep never read chunk items.
	s.table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{IndexName: s.str("by-created"),
		PartitionKey: &awsdynamodb.Attribute{Name: s.str("entity"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: s.str("created_at"), Type: awsdynamodb.AttributeType_STRING}})
	// by-key: the videos of an object key, for Object Deleted (only video
	// items carry "key").
	s.table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{IndexName: s.str("by-key"),
		PartitionKey: &awsdynamodb.Attribute{Name: s.str("key"), Type: awsdynamodb.AttributeType_STRING}})
	s.table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{IndexName: s.str("pending"),
		PartitionKey: &awsdynamodb.Attribute{Name: s.str("pending"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: s.str("updated_at"), Type: awsdynamodb.AttributeType_STRING}})

	s.dlq = awssqs.NewQueue(s.stack, s.str("ChunksDLQ"), &awssqs.QueueProps{
		EnforceSSL: jsii.Bool(true), Encryption: awssqs.QueueEncryption_SQS_MANAGED, RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	s.queue = awssqs.NewQueue(s.stack, s.str("Chunks"), &awssqs.QueueProps{
		EnforceSSL: jsii.Bool(true), Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		// Lambda's guidance: at least six times the consumer's timeout.
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * embedTimeoutSecs)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: s.dlq, MaxReceiveCount: jsii.Number(chunkMaxReceives)},
		// A chunk must outlive the workflow's wait for its embedding
		// (embedWaitHours, checked to be shorter).
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(queueRetentionDays)),
	})
	// The window queue: each message is one window of a video and the task
	// token its run waits on; the chunk function's event source reads it
	// with MaximumConcurrency = chunkConcurrency, so a burst of videos waits
	// here, not in retries. The DLQ keeps what failed every receive; chunk
	// consumes it too and fails those windows' tokens (lambdas.Chunk).
	// Both visibility timeouts are six times chunk's timeout: SQS's guidance
	// for a Lambda trigger ("Configuring an Amazon SQS queue to trigger an
	// AWS Lambda function"), and at least the function's timeout, which
	// Lambda requires of an event source queue.
	s.windowsDLQ = awssqs.NewQueue(s.stack, s.str("WindowsDLQ"), &awssqs.QueueProps{
		EnforceSSL: jsii.Bool(true), Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * chunkTimeoutSecs)),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(queueRetentionDays)),
	})
	s.windows = awssqs.NewQueue(s.stack, s.str("Windows"), &awssqs.QueueProps{
		EnforceSSL: jsii.Bool(true), Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * chunkTimeoutSecs)),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(queueRetentionDays)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: s.windowsDLQ, MaxReceiveCount: jsii.Number(windowMaxReceives)},
	})
	s.eventDLQ = awssqs.NewQueue(s.stack, s.str("EventsDLQ"), &awssqs.QueueProps{
		EnforceSSL: jsii.Bool(true), Encryption: awssqs.QueueEncryption_SQS_MANAGED, RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	// The events queue: the Object Created rule's target, which start reads
	// through an event source mapping. A burst of uploads waits here (14
	// days), not in Lambda's asynchronous retries (6 hours at most). Its
	// visibility timeout is six times start's timeout (Lambda guide, "Using
	// Lambda with Amazon SQS").
	s.eventQ = awssqs.NewQueue(s.stack, s.str("Events"), &awssqs.QueueProps{
		EnforceSSL: jsii.Bool(true), Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(queueRetentionDays)),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * startTimeoutSecs)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: s.eventDLQ, MaxReceiveCount: jsii.Number(eventMaxReceives)},
	})
}

const (
	embedTimeoutSecs   = 120
	chunkTimeoutSecs   = 900
	queueRetentionDays = 14 // SQS's longest
	// windowMaxReceives is the window queue's maxReceiveCount: a window is
	// cut up to this many times (a transient failure each) before its video
	// ends FAILED.
	windowMaxReceives = 5
	startTimeoutSecs  = 15
	// chunkMaxReceives is the chunk queue's maxReceiveCount. As for the
	// events queue (below), a throttled receive counts: with 3, a burst of
	// 1,000 videos on a 10-concurrency account dead-lettered 190 chunks that
	// had never reached embed (make burst), and their videos failed at the
	// embeddings wait. A chunk is received at most once per visibility
	// timeout (720 s), so 100 receives take 20 hours of throttling of that
	// one message; a chunk that fails for scenedex's own reason reaches the
	// DLQ (and its alarm) within that, before the 72 h embeddings wait ends,
	// and its video waits for a redrive. The user's fault (a Permanent
	// error) fails the video at once, without the DLQ.
	chunkMaxReceives = 100
	// eventMaxReceives is the events queue's maxReceiveCount. Every receive
	// counts, a throttled one too: when the account's concurrency is spent
	// (MaximumConcurrency bounds the mapping, not the account), Lambda's
	// poller gets the batch, the invocation is throttled, and the messages
	// return after the visibility timeout with their count up (Lambda
	// guide, "Configuring scaling behavior for SQS event source mappings"
	// and "Handling errors for an SQS event source": throttled batches go
	// back to the queue, whose maxReceiveCount should leave room for them).
	// An event did nothing wrong by waiting, so the count is SQS's largest
	// (1,000, SQS API reference, RedrivePolicy): a message is received at
	// most once per visibility timeout (90 s), so only more than 25 hours of
	// throttled receives of that one message could dead-letter it — the
	// burst of 1,000 on a 10-concurrency account waits about 6 hours in
	// all. The price: a malformed event (start reports it as a batch item
	// failure each time) reaches the events DLQ after about 25 hours.
	eventMaxReceives = 1000
)

// endpointConcurrency is the MaxConcurrency the project's serverless
// endpoint asks for: two model calls per embed invocation at once (the
// embedding and the OCR form).
func endpointConcurrency(cfg Config) int { return 2 * cfg.EmbedConcurrency }

// ---- search: OpenSearch domain or Serverless collection ----

func (s *builder) search() {
	if s.cfg.SearchEngine == "serverless" {
		s.serverlessCollection()
		return
	}
	s.domain()
}

// ---- the model: an existing endpoint, or the project's own container ----

func (s *builder) model() {
	if s.cfg.Embedder == "bedrock" {
		// A foundation model: nothing to deploy; the functions invoke it.
		s.modelArn = s.stack.FormatArn(&awscdk.ArnComponents{Service: s.str("bedrock"), Account: s.str(""),
			Resource: s.str("foundation-model"), ResourceName: s.str(s.cfg.BedrockModel)})
		return
	}
	if s.cfg.EmbeddingEndpoint != "" {
		s.endpoint = s.str(s.cfg.EmbeddingEndpoint)
		s.endpointArn = awscdk.Stack_Of(s.stack).FormatArn(&awscdk.ArnComponents{Service: s.str("sagemaker"),
			Resource: s.str("endpoint"), ResourceName: s.str(lowerASCII(s.cfg.EmbeddingEndpoint))})
		return
	}
	model, memory := s.cfg.Model, 4096.0 // CLIP ViT-B/32 + OCR + ONNX Runtime, with room
	if model == "none" {
		model, memory = "", 2048
	}
	image := awsecrassets.NewDockerImageAsset(s.stack, s.str("ModelImage"), &awsecrassets.DockerImageAssetProps{
		Directory: s.str(s.cfg.RepoDir), File: s.str("model/Dockerfile"), Platform: awsecrassets.Platform_LINUX_AMD64(),
		BuildArgs: &map[string]*string{"MODEL": s.str(model)},
		Exclude: jsii.Strings(".git", ".scenedex", "dist", "bin", "cdk.out", "node_modules", "infra", "layers", "third_party/.npm",
			"third_party/lib/linux-arm64"),
	})
	role := awsiam.NewRole(s.stack, s.str("ModelRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(s.str("sagemaker.amazonaws.com"), nil),
		Description: s.str("scenedex model container: pull its image, write its logs"),
	})
	image.Repository().GrantPull(role)
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*awscdk.Stack_Of(s.stack).FormatArn(&awscdk.ArnComponents{Service: s.str("logs"), Resource: s.str("log-group"),
			ResourceName: s.str("/aws/sagemaker/Endpoints/*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecr:GetAuthorizationToken"), Resources: jsii.Strings("*"),
	}))
	cfnModel := awssagemaker.NewCfnModel(s.stack, s.str("Model"), &awssagemaker.CfnModelProps{
		ExecutionRoleArn: role.RoleArn(),
		PrimaryContainer: &awssagemaker.CfnModel_ContainerDefinitionProperty{Image: image.ImageUri()},
	})
	cfnModel.Node().AddDependency(role)
	config := awssagemaker.NewCfnEndpointConfig(s.stack, s.str("EndpointConfig"), &awssagemaker.CfnEndpointConfigProps{
		ProductionVariants: []any{&awssagemaker.CfnEndpointConfig_ProductionVariantProperty{
			ModelName: cfnModel.AttrModelName(), VariantName: s.str("main"),
			ServerlessConfig: &awssagemaker.CfnEndpointConfig_ServerlessConfigProperty{
				MemorySizeInMb: jsii.Number(memory), MaxConcurrency: jsii.Number(float64(endpointConcurrency(s.cfg))),
			},
		}},
	})
	ep := awssagemaker.NewCfnEndpoint(s.stack, s.str("Endpoint"), &awssagemaker.CfnEndpointProps{EndpointConfigName: config.AttrEndpointConfigName()})
	s.endpoint = ep.AttrEndpointName()
	s.endpointArn = ep.Ref() // Ref of AWS::SageMaker::Endpoint is its ARN
	s.suppress(cfnModel, "AwsSolutions-SM1", "The model container needs no network access beyond SageMaker's own; a VPC adds NAT cost and nothing to protect.")
	s.suppress(config, "AwsSolutions-SM2", "Serverless inference endpoints do not support a customer KMS key on the endpoint config; SageMaker encrypts with its own keys.")
	s.suppress(role, "AwsSolutions-IAM5", "ecr:GetAuthorizationToken has no resource scope; log groups are limited to SageMaker endpoint groups.")
}

// ---- functions ----

type fnSpec struct {
	name, doc string
	memory    float64
	timeout   float64 // seconds
	ffmpeg    bool
	env       map[string]*string
}

func (s *builder) function(spec fnSpec) awslambda.Function {
	logGroup := awslogs.NewLogGroup(s.stack, s.str(title(spec.name)+"Logs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	props := &awslambda.FunctionProps{
		Description:  s.str("scenedex " + spec.name + ": " + spec.doc),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      s.str("bootstrap"),
		Code:         awslambda.Code_FromAsset(s.str(filepath.Join(s.cfg.FunctionsDir, spec.name)), nil),
		MemorySize:   jsii.Number(spec.memory),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(spec.timeout)),
		Tracing:      awslambda.Tracing_ACTIVE,
		LogGroup:     logGroup,
		Environment:  &spec.env,
	}
	if spec.name == "chunk" && s.cfg.ChunkReservedConcurrency > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(s.cfg.ChunkReservedConcurrency))
	}
	if spec.ffmpeg {
		props.Layers = &[]awslambda.ILayerVersion{s.layer}
		props.EphemeralStorageSize = awscdk.Size_Gibibytes(jsii.Number(4))
	}
	fn := awslambda.NewFunction(s.stack, s.str(title(spec.name)), props)
	s.fns[spec.name] = fn
	return fn
}

func (s *builder) functions() {
	s.layer = awslambda.NewLayerVersion(s.stack, s.str("FFmpeg"), &awslambda.LayerVersionProps{
		Code:                    awslambda.Code_FromAsset(s.str(s.cfg.LayerDir), nil),
		CompatibleArchitectures: &[]awslambda.Architecture{awslambda.Architecture_ARM_64()},
		CompatibleRuntimes:      &[]awslambda.Runtime{awslambda.Runtime_PROVIDED_AL2023()},
		Description:             s.str("ffmpeg and ffprobe (static, arm64) in /opt/bin"),
		License:                 s.str("GPL-3.0-or-later"),
	})
	base := func(extra map[string]*string) map[string]*string {
		env := map[string]*string{"BUCKET": s.bucket.BucketName(), "TABLE": s.table.TableName()}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	search := map[string]*string{"OPENSEARCH_ENDPOINT": s.osEndpoint, "OPENSEARCH_SERVICE": s.str(s.osService),
		"OPENSEARCH_INDEX": s.str(indexName), "OCR": s.str(s.cfg.OCR)}
	if s.cfg.Embedder == "bedrock" {
		search["BEDROCK_MODEL_ID"] = s.str(s.cfg.BedrockModel)
		search["EMBEDDING_DIM"] = s.str(strconv.Itoa(s.cfg.EmbeddingDim))
	} else {
		search["EMBEDDING_ENDPOINT"] = s.endpoint
	}
	if s.cfg.SearchEngine == "domain" {
		search["OPENSEARCH_REPLICAS"] = s.str("0") // one data node: a replica could never be placed
	}
	limits := map[string]*string{"MAX_UPLOAD_BYTES": s.str(strconv.FormatInt(s.cfg.MaxUploadBytes, 10))}
	apiEnv := merge(merge(search, limits), map[string]*string{
		"CHUNK_QUEUE_URL":   s.queue.QueueUrl(), // reindex
		"STATE_MACHINE_ARN": s.machineArn(),     // reprocess, dead events
		"CHUNKS_DLQ_URL":    s.dlq.QueueUrl(), "CHUNKS_DLQ_ARN": s.dlq.QueueArn(), "EVENTS_DLQ_URL": s.eventDLQ.QueueUrl(),
	})
	specs := []fnSpec{
		{"upload", "POST /v1/videos: presigned uploads", 256, 15, false, base(limits)},
		{"api", "status, list, delete, search, reindex, reprocess, dead letters", 512, 29, false, base(apiEnv)},
		{"start", "Object Created -> one named workflow run", 128, startTimeoutSecs, false, map[string]*string{"STATE_MACHINE_ARN": s.machineArn()}},
		{"probe", "register, ffprobe, plan", 1024, 120, true, base(nil)},
		{"chunk", "cut one window into chunks and frames", 3008, chunkTimeoutSecs, true, map[string]*string{"BUCKET": s.bucket.BucketName(),
			"CHUNK_QUEUE_URL": s.queue.QueueUrl(), "WINDOW_MAX_RECEIVES": s.str(strconv.Itoa(windowMaxReceives)),
			"WINDOW_DLQ_ARN": s.windowsDLQ.QueueArn()}},
		{"await", "store the task token of the embeddings wait", 256, 15, false, base(search)},
		// A model switch's page messages reach embed, which queues the
		// page's chunks on the same queue.
		{"embed", "frames -> model -> index", 1024, embedTimeoutSecs, false, base(merge(search, map[string]*string{"CHUNK_QUEUE_URL": s.queue.QueueUrl()}))},
		{"finalize", "READY + Video Indexed event; older versions of the object retired", 256, 60, false, base(search)},
		{"fail", "FAILED with the reason", 256, 30, false, base(nil)},
		{"sweep", "deletes cut short completed; uploads that never arrived end FAILED; arrived ones without a run get it", 256, 300, false,
			base(merge(search, map[string]*string{"STATE_MACHINE_ARN": s.machineArn()}))},
		{"forget", "Object Deleted -> the video made from the object is removed", 256, 120, false, base(search)},
	}
	for _, spec := range specs {
		s.function(spec)
	}
	s.grants()
	s.fns["embed"].AddEventSource(awslambdaeventsources.NewSqsEventSource(s.queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(10), MaxBatchingWindow: awscdk.Duration_Seconds(jsii.Number(5)),
		ReportBatchItemFailures: jsii.Bool(true), MaxConcurrency: jsii.Number(float64(s.cfg.EmbedConcurrency)),
	}))
	// One window per invocation: its cut takes up to the whole timeout.
	s.fns["chunk"].AddEventSource(awslambdaeventsources.NewSqsEventSource(s.windows, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(1), ReportBatchItemFailures: jsii.Bool(true), MaxConcurrency: jsii.Number(float64(s.cfg.ChunkConcurrency)),
	}))
	// Dead windows: answered at once (no cut), two at a time at most.
	s.fns["chunk"].AddEventSource(awslambdaeventsources.NewSqsEventSource(s.windowsDLQ, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true), MaxConcurrency: jsii.Number(2),
	}))
	// Object Created events wait in the events queue; start takes them ten
	// at a time, two batches at once at most, so a burst of uploads never
	// holds more than two of the account's executions for starting runs.
	created := s.objectRuleOf("ObjectCreated", "Object Created", "videos arriving under uploads/ start the scenedex workflow")
	// Delivery itself is retried for a day, then kept in the events DLQ.
	created.AddTarget(awseventstargets.NewSqsQueue(s.eventQ, &awseventstargets.SqsQueueProps{
		DeadLetterQueue: s.eventDLQ, RetryAttempts: jsii.Number(8), MaxEventAge: awscdk.Duration_Hours(jsii.Number(24)),
	}))
	s.fns["start"].AddEventSource(awslambdaeventsources.NewSqsEventSource(s.eventQ, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true), MaxConcurrency: jsii.Number(startConcurrency),
	}))
	// The catalog follows the bucket: an object deleted under uploads/
	// removes its video.
	s.objectRule("ObjectDeleted", "Object Deleted", "videos deleted from uploads/ are removed from the scenedex index and catalog", s.fns["forget"])
	awsevents.NewRule(s.stack, s.str("SweepSchedule"), &awsevents.RuleProps{
		Description: s.str("every 15 minutes: uploads that never arrived end FAILED"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(15))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(s.fns["sweep"], nil)},
	})
}

// objectRuleOf is the rule matching the bucket's S3 events of detailType
// under uploads/.
func (s *builder) objectRuleOf(id, detailType, doc string) awsevents.Rule {
	return awsevents.NewRule(s.stack, s.str(id), &awsevents.RuleProps{
		Description: s.str(doc),
		EventPattern: &awsevents.EventPattern{
			Source: jsii.Strings("aws.s3"), DetailType: jsii.Strings(detailType),
			Detail: &map[string]any{
				"bucket": map[string]any{"name": []any{s.bucket.BucketName()}},
				"object": map[string]any{"key": []any{map[string]any{"prefix": "uploads/"}}},
			},
		},
	})
}

// objectRule sends the bucket's S3 events of detailType under uploads/ to
// fn, retried for a day, then to the events DLQ.
func (s *builder) objectRule(id, detailType, doc string, fn awslambda.Function) {
	rule := s.objectRuleOf(id, detailType, doc)
	rule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: s.eventDLQ, RetryAttempts: jsii.Number(8), MaxEventAge: awscdk.Duration_Hours(jsii.Number(24)),
	}))
	// EventBridge invokes fn asynchronously: after Lambda's own two retries
	// a failed event would be dropped (the rule's DLQ covers only
	// delivery), so failures go to the events DLQ too, which has an alarm.
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		OnFailure: awslambdadestinations.NewSqsDestination(s.eventDLQ), RetryAttempts: jsii.Number(2),
		MaxEventAge: awscdk.Duration_Hours(jsii.Number(6)),
	})
}

// machineName is fixed so functions can be granted on the state machine
// without a circular reference.
func (s *builder) machineName() string { return *s.stack.StackName() + "-ingest" }

func (s *builder) machineArn() *string {
	return s.stack.FormatArn(&awscdk.ArnComponents{Service: s.str("states"), Resource: s.str("stateMachine"),
		ResourceName: s.str(s.machineName()), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
}

func (s *builder) statement(actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: &resources})
}

func (s *builder) objects(prefix string) *string { return s.bucket.ArnForObjects(s.str(prefix + "*")) }

// grants gives each function only what its steps use.
// merge returns a copy of env with extra's entries added.
func merge(env, extra map[string]*string) map[string]*string {
	out := map[string]*string{}
	for k, v := range env {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func (s *builder) grants() {
	f := s.fns
	// TransactWriteItems (embed's idempotent chunk count) is authorized by
	// the PutItem and UpdateItem it contains. chunk never reads the table.
	tableRW := []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
	for name, actions := range map[string][]string{
		"upload": tableRW, "probe": tableRW, "await": tableRW, "fail": tableRW, "embed": tableRW,
		"api":   append(tableRW, "dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"),
		"sweep": append(tableRW, "dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"), // also completes deletes cut short
		// forget finds videos by key and deletes them with their chunk items,
		// writing each one's tombstone first (PutItem; also the index's state
		// record, when a delete ends a model switch); finalize does so for
		// the older versions of an overwritten object.
		"forget":   {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"},
		"finalize": append(tableRW, "dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"),
	} {
		resources := []*string{s.table.TableArn()}
		if name == "api" || name == "sweep" || name == "forget" || name == "finalize" {
			resources = append(resources, s.str(*s.table.TableArn()+"/index/*"))
		}
		f[name].AddToRolePolicy(s.statement(actions, resources...))
	}
	// S3: uploads/ are read by the workflow; chunks/ written by chunk, read by embed and api.
	f["upload"].AddToRolePolicy(s.statement([]string{"s3:PutObject", "s3:AbortMultipartUpload"}, s.objects("uploads/")))
	// DeleteObject: a delete through the API cut short takes the upload too.
	f["sweep"].AddToRolePolicy(s.statement([]string{"s3:AbortMultipartUpload", "s3:GetObject", "s3:DeleteObject"}, s.objects("uploads/")))
	for _, name := range []string{"sweep", "api"} { // arrived-but-unstarted uploads; reprocess
		f[name].AddToRolePolicy(s.statement([]string{"states:StartExecution"}, s.machineArn()))
	}
	f["api"].AddToRolePolicy(s.statement([]string{"s3:GetObject"}, s.objects("uploads/"))) // reprocess heads the upload
	// HeadObject of a missing key answers 403 without s3:ListBucket: with it,
	// "gone" is a 404 the code can tell from a refusal.
	// forget heads the upload (is it back?) and aborts a multipart upload
	// left; it, finalize (retiring older versions), await (a video
	// deleted while it was cut) and sweep (a delete cut short) clear a
	// video's chunk files and documents.
	f["forget"].AddToRolePolicy(s.statement([]string{"s3:GetObject", "s3:AbortMultipartUpload"}, s.objects("uploads/")))
	for _, name := range []string{"forget", "finalize", "await", "sweep"} {
		f[name].AddToRolePolicy(s.statement([]string{"s3:DeleteObject"}, s.objects("chunks/")))
		f[name].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("s3:ListBucket"), Resources: &[]*string{s.bucket.BucketArn()},
			Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": []string{"chunks/*"}}},
		}))
		s.osGrant(f[name], true) // deletes the video's documents
	}
	for _, name := range []string{"probe", "sweep", "api", "forget", "chunk"} { // chunk: was the object deleted?
		f[name].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("s3:ListBucket"), Resources: &[]*string{s.bucket.BucketArn()},
			Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": []string{"uploads/*"}}},
		}))
	}
	for _, name := range []string{"probe", "fail"} {
		f[name].AddToRolePolicy(s.statement([]string{"s3:GetObject"}, s.objects("uploads/")))
	}
	f["chunk"].AddToRolePolicy(s.statement([]string{"s3:GetObject"}, s.objects("uploads/")))
	f["chunk"].AddToRolePolicy(s.statement([]string{"s3:PutObject"}, s.objects("chunks/")))
	f["embed"].AddToRolePolicy(s.statement([]string{"s3:GetObject"}, s.objects("chunks/")))
	f["api"].AddToRolePolicy(s.statement([]string{"s3:GetObject"}, s.objects("chunks/")))
	f["api"].AddToRolePolicy(s.statement([]string{"s3:DeleteObject", "s3:AbortMultipartUpload"}, s.objects("uploads/"), s.objects("chunks/")))
	f["api"].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("s3:ListBucket"), Resources: &[]*string{s.bucket.BucketArn()},
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": []string{"chunks/*"}}},
	}))
	// The queue, the model, the index, the workflow, the event bus.
	s.queue.GrantSendMessages(f["chunk"])
	s.queue.GrantSendMessages(f["api"]) // reindex puts stored chunks back on the queue
	// A model switch's page message: embed reads a page of videos (the
	// by-created index, as the catalog lists them) and queues their chunks
	// and the next page.
	s.queue.GrantSendMessages(f["embed"])
	f["embed"].AddToRolePolicy(s.statement([]string{"dynamodb:Query"}, s.str(*s.table.TableArn()+"/index/by-created")))
	// Dead letters: the api lists both DLQs, moves chunk messages back with a
	// message move task (which acts with the caller's receive and delete on
	// the DLQ and send on the source queue) and restarts dead events' runs.
	f["api"].AddToRolePolicy(s.statement([]string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
		"sqs:GetQueueAttributes", "sqs:StartMessageMoveTask"}, s.dlq.QueueArn()))
	f["api"].AddToRolePolicy(s.statement([]string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"}, s.eventDLQ.QueueArn()))
	if s.osPipelineGrant != nil {
		s.osPipelineGrant(f["api"])
	}
	for _, name := range []string{"embed", "api"} {
		if s.cfg.Embedder == "bedrock" {
			f[name].AddToRolePolicy(s.statement([]string{"bedrock:InvokeModel"}, s.modelArn)) // that model only
		} else {
			f[name].AddToRolePolicy(s.statement([]string{"sagemaker:InvokeEndpoint"}, s.endpointArn))
		}
		s.osGrant(f[name], name == "embed" || name == "api")
	}
	f["embed"].AddToRolePolicy(s.statement([]string{"states:SendTaskSuccess", "states:SendTaskFailure"}, s.machineArn()))
	f["await"].AddToRolePolicy(s.statement([]string{"states:SendTaskSuccess"}, s.machineArn()))
	f["chunk"].AddToRolePolicy(s.statement([]string{"states:SendTaskSuccess", "states:SendTaskFailure"}, s.machineArn()))
	f["start"].AddToRolePolicy(s.statement([]string{"states:StartExecution"}, s.machineArn()))
	f["finalize"].AddToRolePolicy(s.statement([]string{"events:PutEvents"},
		s.stack.FormatArn(&awscdk.ArnComponents{Service: s.str("events"), Resource: s.str("event-bus"), ResourceName: s.str("default")})))
}

// ---- the workflow ----

func (s *builder) workflow() {
	logGroup := awslogs.NewLogGroup(s.stack, s.str("WorkflowLogs"), &awslogs.LogGroupProps{
		LogGroupName: s.str("/aws/vendedlogs/states/" + s.machineName()), Retention: awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	subs := map[string]*string{"WindowQueueUrl": s.windows.QueueUrl()}
	for _, name := range workflowFunctions {
		subs[name+"Arn"] = s.fns[lowerASCII(name)].FunctionArn()
	}
	s.machine = awsstepfunctions.NewStateMachine(s.stack, s.str("Ingest"), &awsstepfunctions.StateMachineProps{
		StateMachineName:        s.str(s.machineName()),
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(s.str(WorkflowDefinition(s.cfg.Workflow))),
		DefinitionSubstitutions: &subs,
		// Every event, but without execution data: states carry task tokens
		// (and presigned links), which must not be written to logs.
		Logs: &awsstepfunctions.LogOptions{Destination: logGroup, Level: awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false)},
		TracingEnabled: jsii.Bool(true),
	})
	for _, name := range workflowFunctions {
		s.fns[lowerASCII(name)].GrantInvoke(s.machine)
	}
	s.windows.GrantSendMessages(s.machine)
}

// ---- the API ----

// route is one route of the API and the function behind it.
type route struct {
	path   string
	method awsapigatewayv2.HttpMethod
	to     awsapigatewayv2.HttpRouteIntegration
}

// routes are every route the API handler serves (the upload function takes
// the upload routes, the api function the rest), with integrations named
// after prefix (an integration belongs to one HTTP API).
func (s *builder) routes(prefix string) []route {
	upload := awsapigatewayv2integrations.NewHttpLambdaIntegration(s.str(prefix+"UploadIntegration"), s.fns["upload"], nil)
	api := awsapigatewayv2integrations.NewHttpLambdaIntegration(s.str(prefix+"ApiIntegration"), s.fns["api"], nil)
	return []route{
		{"/v1/videos", awsapigatewayv2.HttpMethod_POST, upload},
		{"/v1/videos/{id}/complete", awsapigatewayv2.HttpMethod_POST, upload},
		{"/v1/videos/{id}/parts", awsapigatewayv2.HttpMethod_POST, upload},
		{"/v1/reindex", awsapigatewayv2.HttpMethod_POST, api},
		{"/v1/reindex", awsapigatewayv2.HttpMethod_GET, api},
		{"/v1/reindex", awsapigatewayv2.HttpMethod_DELETE, api},
		{"/v1/videos/{id}/reprocess", awsapigatewayv2.HttpMethod_POST, api},
		{"/v1/dead-letters", awsapigatewayv2.HttpMethod_GET, api},
		{"/v1/dead-letters/redrive", awsapigatewayv2.HttpMethod_POST, api},
		{"/v1/videos", awsapigatewayv2.HttpMethod_GET, api},
		{"/v1/videos/{id}", awsapigatewayv2.HttpMethod_GET, api},
		{"/v1/videos/{id}", awsapigatewayv2.HttpMethod_DELETE, api},
		{"/v1/search", awsapigatewayv2.HttpMethod_POST, api},
		{"/v1/concepts", awsapigatewayv2.HttpMethod_POST, api},
		{"/healthz", awsapigatewayv2.HttpMethod_GET, api},
	}
}

// accessLogs sends an HTTP API's default stage's access logs to logGroup.
func (s *builder) accessLogs(api awsapigatewayv2.HttpApi, logGroup awslogs.ILogGroup) {
	format, _ := json.Marshal(map[string]string{"requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
		"caller": "$context.identity.caller", "user": "$context.identity.user", "requestTime": "$context.requestTime",
		"routeKey": "$context.routeKey", "status": "$context.status", "error": "$context.integrationErrorMessage"})
	stage := api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{DestinationArn: logGroup.LogGroupArn(), Format: s.str(string(format))})
}

func (s *builder) out(id, value, doc string) {
	awscdk.NewCfnOutput(s.stack, s.str(id), &awscdk.CfnOutputProps{Value: s.str(value), Description: s.str(doc)})
}

func (s *builder) api() {
	logGroup := awslogs.NewLogGroup(s.stack, s.str("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	s.httpAPI = awsapigatewayv2.NewHttpApi(s.stack, s.str("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description:        s.str("scenedex HTTP API v1 (IAM-authorized)"),
		DefaultAuthorizer:  awsapigatewayv2authorizers.NewHttpIamAuthorizer(),
		CreateDefaultStage: jsii.Bool(true),
	})
	s.accessLogs(s.httpAPI, logGroup)
	for _, r := range s.routes("") {
		s.httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{Path: s.str(r.path), Methods: &[]awsapigatewayv2.HttpMethod{r.method}, Integration: r.to})
	}
	s.out("ApiUrl", *s.httpAPI.ApiEndpoint(), "scenedex API (SigV4-sign requests; SCENEDEX_URL for the CLI)")
	s.out("BucketName", *s.bucket.BucketName(), "videos go under uploads/<collection>/")
	s.out("StateMachineArn", *s.machine.StateMachineArn(), "one execution per uploaded video")
	s.out("OpenSearchEndpoint", *s.osEndpoint, "k-NN index "+indexName)
	if s.cfg.Embedder == "bedrock" {
		s.out("EmbeddingModel", s.cfg.BedrockModel+" ("+strconv.Itoa(s.cfg.EmbeddingDim)+" dimensions)", "Amazon Bedrock model that embeds frames and queries (enable it in the console's model access)")
	} else {
		s.out("EmbeddingEndpoint", *s.endpoint, "SageMaker endpoint answering the model contract")
	}
}

// cors lets browsers PUT uploads to and read links from the media bucket:
// from the web app's origin and the origins -c corsOrigins adds (none by
// default). A bucket the stack does not own keeps its owner's CORS.
func (s *builder) cors() {
	b, ok := s.bucket.(awss3.Bucket)
	origins := s.cfg.CorsOrigins
	if s.appOrigin != "" {
		origins = append([]string{s.appOrigin}, origins...)
	}
	if !ok || len(origins) == 0 {
		return
	}
	b.AddCorsRule(&awss3.CorsRule{
		AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT, awss3.HttpMethods_GET, awss3.HttpMethods_HEAD},
		AllowedOrigins: jsii.Strings(origins...), AllowedHeaders: jsii.Strings("content-type", "content-length"),
		ExposedHeaders: jsii.Strings("ETag"), MaxAge: jsii.Number(3000),
	})
}

// ---- alarms and a dashboard ----

func (s *builder) monitoring() {
	s.alarmTopic()
	notify := awscloudwatchactions.NewSnsAction(s.alarms)
	alarm := func(id, doc string, metric awscloudwatch.IMetric) awscloudwatch.Alarm {
		a := awscloudwatch.NewAlarm(s.stack, s.str(id), &awscloudwatch.AlarmProps{
			AlarmDescription: s.str(doc), Metric: metric, Threshold: jsii.Number(0), EvaluationPeriods: jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(notify)
		return a
	}
	five := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}
	alarm("ChunksDLQNotEmpty", "chunk messages failed 3 times: see the chunks DLQ", s.dlq.MetricApproximateNumberOfMessagesVisible(five))
	alarm("EventsDLQNotEmpty", "Object Created events could not start a workflow", s.eventDLQ.MetricApproximateNumberOfMessagesVisible(five))
	// Runs fail only for scenedex's own faults: a user's unusable file ends
	// FAILED through MarkRejected, in a run that succeeds, and pages nobody.
	alarm("WorkflowFailures", "runs failed for an internal reason (not a user's bad file)", s.machine.MetricFailed(five))
	// embed reports partial batch failures, never a function error: watch
	// the queue instead — chunks waiting too long mean embedding is stuck.
	awscloudwatch.NewAlarm(s.stack, s.str("ChunksWaiting"), &awscloudwatch.AlarmProps{
		AlarmDescription: s.str("the oldest chunk message has waited over 30 minutes: embedding is stuck or far behind"),
		Metric:           s.queue.MetricApproximateAgeOfOldestMessage(five), Threshold: jsii.Number(1800), EvaluationPeriods: jsii.Number(2),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	}).AddAlarmAction(notify)

	dash := awscloudwatch.NewDashboard(s.stack, s.str("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: s.str(*s.stack.StackName() + "-scenedex"),
	})
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: s.str(title), Left: &metrics, Width: jsii.Number(12)})
	}
	dash.AddWidgets(
		graph("Workflow runs", s.machine.MetricStarted(five), s.machine.MetricSucceeded(five), s.machine.MetricFailed(five)),
		graph("Chunk queue", s.queue.MetricApproximateNumberOfMessagesVisible(five), s.dlq.MetricApproximateNumberOfMessagesVisible(five)),
	)
	dash.AddWidgets(
		graph("Embed", s.fns["embed"].MetricInvocations(five), s.fns["embed"].MetricErrors(five), s.fns["embed"].MetricThrottles(five)),
		graph("Chunk duration", s.fns["chunk"].MetricDuration(five)),
	)
}

// alarmTopic is where the alarms go: an SNS topic encrypted with a key of
// the stack's own — CloudWatch can publish to an encrypted topic only when
// the key's policy lets cloudwatch.amazonaws.com use it, which an AWS managed
// key's policy does not (SNS developer guide, "Enable compatibility between
// event sources from AWS services and encrypted topics") — refusing requests
// without TLS, with an email subscription when -c alarmEmail is set.
func (s *builder) alarmTopic() {
	key := awskms.NewKey(s.stack, s.str("AlarmsKey"), &awskms.KeyProps{
		Description: s.str("scenedex alarm topic"), EnableKeyRotation: jsii.Bool(true), RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(s.str("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"), Resources: jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": s.stack.Account()}},
	}), jsii.Bool(false))
	s.alarms = awssns.NewTopic(s.stack, s.str("Alarms"), &awssns.TopicProps{
		DisplayName: s.str("scenedex alarms"), MasterKey: key, EnforceSSL: jsii.Bool(true),
	})
	if s.cfg.AlarmEmail != "" {
		s.alarms.AddSubscription(awssnssubscriptions.NewEmailSubscription(s.str(s.cfg.AlarmEmail), nil))
	}
	s.out("AlarmTopic", *s.alarms.TopicArn(), "the alarms notify this SNS topic (-c alarmEmail subscribes an address)")
}

// ---- cdk-nag suppressions: each with its reason ----

func (s *builder) suppress(c constructs.IConstruct, id, reason string, appliesTo ...string) {
	sup := &cdknag.NagPackSuppression{Id: s.str(id), Reason: s.str(reason)}
	if len(appliesTo) > 0 {
		var at []any
		for _, a := range appliesTo {
			at = append(at, a)
		}
		sup.AppliesTo = &at
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{sup}, jsii.Bool(true))
}

func (s *builder) suppressions() {
	s.suppress(s.logs, "AwsSolutions-S1", "This is the access-log bucket itself; logging it into itself would loop.")
	for name, fn := range s.fns {
		s.suppress(fn, "AwsSolutions-IAM4", "AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs.",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
		s.suppress(fn, "AwsSolutions-IAM5", fmt.Sprintf("The %s function's object permissions are scoped to its key prefixes (uploads/* or chunks/*), "+
			"X-Ray's PutTraceSegments has no resource scope, and index permissions cover the documents of one index.", name))
	}
	s.suppress(s.eventDLQ, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue: the events queue's messages that failed every receive, and forget's undeliverable or failed Object Deleted events.")
	s.suppress(s.machine, "AwsSolutions-IAM5", "CDK grants invoke on each workflow function and its versions (<arn>:*); "+
		"X-Ray and CloudWatch Logs delivery actions have no resource scope.")
	// CDK's own singleton functions (they install the bucket's EventBridge
	// switch and the domain's log-group policy, and copy the web app's files
	// to its bucket, at deploy time).
	for _, id := range []string{"BucketNotificationsHandler050a0587b7544547bf325f094a3db834", "AWS679f53fac002430cb0da5b7982bd2287",
		"Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"} {
		if c := s.stack.Node().TryFindChild(s.str(id)); c != nil {
			s.suppress(c, "AwsSolutions-IAM4", "CDK's deploy-time helper function; AWSLambdaBasicExecutionRole only writes its own logs.",
				"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
			s.suppress(c, "AwsSolutions-IAM5", "CDK's deploy-time helper function; its actions are limited to the one configuration call it makes.")
			s.suppress(c, "AwsSolutions-L1", "CDK's deploy-time helper function; CDK chooses and updates its runtime.")
		}
	}
}

func title(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (c Config) withDefaults() Config {
	c.defaults()
	return c
}
