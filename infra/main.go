// Command infra is the scenedex CDK app: `make synth`, `make deploy`,
// `make destroy` run it through the CDK CLI (cdk.json at the repository root).
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	defer refused()
	app := awscdk.NewApp(nil)
	cfg := configFrom(app)
	NewStack(app, contextString(app, "stackName", "scenedex"), &awscdk.StackProps{Env: env()}, cfg)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	printAccountLimits(os.Stderr, cfg.withDefaults())
}

// refused turns a setting the stack refuses (NewStack panics with the
// reason, a string) into that plain message and exit status 1; any other
// panic is a bug and keeps its trace.
func refused() {
	r := recover()
	if r == nil {
		return
	}
	msg, ok := r.(string)
	if !ok {
		panic(r)
	}
	fmt.Fprintln(os.Stderr, "scenedex: refused:", msg)
	os.Exit(1)
}

// configFrom reads the stack's settings from the app's context: cdk.json's
// "context" plus any -c key=value. The template tests read cdk.json through
// it too, so what they check is what `cdk deploy` builds.
func configFrom(app awscdk.App) Config {
	root := contextString(app, "repoDir", "..")
	cfg := Config{
		SearchEngine:               contextString(app, "searchEngine", "domain"),
		EmbeddingEndpoint:          contextString(app, "embeddingEndpoint", ""),
		OCR:                        contextString(app, "ocr", ""),
		SourceBucket:               contextString(app, "sourceBucket", ""),
		App:                        contextString(app, "app", "on"),
		Embedder:                   contextString(app, "embedder", "sagemaker"),
		BedrockModel:               contextString(app, "bedrockModel", ""),
		EmbeddingDim:               contextInt(app, "embeddingDim", 1024),
		Model:                      contextString(app, "model", "clip-vit-base-patch32"),
		FunctionsDir:               contextString(app, "functionsDir", filepath.Join(root, "dist")),
		LayerDir:                   contextString(app, "layerDir", filepath.Join(root, "dist", "layer-ffmpeg")),
		RepoDir:                    root,
		EmbedConcurrency:           contextInt(app, "embedConcurrency", 5),
		ChunkConcurrency:           contextInt(app, "chunkConcurrency", 10),
		ChunkReservedConcurrency:   contextInt(app, "chunkReservedConcurrency", 0),
		WindowWaitHours:            contextInt(app, "windowWaitHours", 72),
		EmbedWaitHours:             contextInt(app, "embedWaitHours", 72),
		AlarmEmail:                 contextString(app, "alarmEmail", ""),
		ServerlessConcurrencyQuota: contextInt(app, "serverlessConcurrencyQuota", 10),
		Workflow:                   WorkflowOptions{MapConcurrency: contextInt(app, "mapConcurrency", 4)},
	}
	if o := contextString(app, "corsOrigins", ""); o != "" {
		cfg.CorsOrigins = strings.Split(o, ",")
	}
	return cfg
}

// printAccountLimits tells, at synth, which account limits the settings
// need: a fresh account may have only 10 concurrent Lambda executions and a
// serverless endpoint concurrency quota of 10 (Service Quotas raises both).
func printAccountLimits(w io.Writer, cfg Config) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenedex needs these account limits (Service Quotas):")
	fmt.Fprintln(tw, "  limit\tneeded\tfrom")
	lambda := accountConcurrency(cfg)
	fmt.Fprintf(tw, "  Lambda concurrent executions\t>= %d\tchunk %d + dead windows 2 + start %d + embed %d + workflow and API steps ~%d%s\n",
		lambda, cfg.ChunkConcurrency, startConcurrency, cfg.EmbedConcurrency, otherConcurrency, reservedNote(cfg))
	if cfg.Embedder == "sagemaker" && cfg.EmbeddingEndpoint == "" {
		fmt.Fprintf(tw, "  SageMaker serverless endpoint concurrency\t>= %d\t2 × embedConcurrency (quota set: %d)\n",
			endpointConcurrency(cfg), cfg.ServerlessConcurrencyQuota)
	}
	tw.Flush()
}

// otherConcurrency is a working allowance for the functions no setting
// bounds (probe, await, finalize, fail, forget, sweep, api, upload):
// short invocations, throttling of which the workflow waits out.
const otherConcurrency = 10

// startConcurrency is the events queue's event source MaximumConcurrency
// (SQS's smallest, 2): start only names and starts runs, a few
// milliseconds each, and a burst of uploads waits in the queue.
const startConcurrency = 2

// accountConcurrency is the account's concurrent executions the settings
// use at full load; with a reservation, AWS also keeps 100 unreserved.
func accountConcurrency(cfg Config) int {
	n := cfg.ChunkConcurrency + 2 + startConcurrency + cfg.EmbedConcurrency + otherConcurrency
	if cfg.ChunkReservedConcurrency > 0 {
		n = cfg.ChunkReservedConcurrency + 100
	}
	return n
}

func reservedNote(cfg Config) string {
	if cfg.ChunkReservedConcurrency == 0 {
		return ""
	}
	return "; chunkReservedConcurrency " + strconv.Itoa(cfg.ChunkReservedConcurrency) + " + the 100 AWS keeps unreserved"
}

func contextString(app awscdk.App, key, def string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
		return v
	}
	return def
}

func contextInt(app awscdk.App, key string, def int) int {
	switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
	case float64:
		return int(v)
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			panic(fmt.Sprintf("-c %s=%s: want a whole number", key, v))
		}
		return n
	}
	return def
}

// env targets the CLI's account and region (CDK_DEFAULT_*); synth works
// without either, and `make synth` passes dummy ones.
func env() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" && region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}
