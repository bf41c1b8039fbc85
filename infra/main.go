// Command infra is the scenedex CDK app: `make synth`, `make deploy`,
// `make destroy` run it through the CDK CLI (cdk.json at the repository root).
package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	root := contextString(app, "repoDir", "..")
	cfg := Config{
		SearchEngine:      contextString(app, "searchEngine", "domain"),
		EmbeddingEndpoint: contextString(app, "embeddingEndpoint", ""),
		OCR:               contextString(app, "ocr", ""),
		SourceBucket:      contextString(app, "sourceBucket", ""),
		App:               contextString(app, "app", "on"),
		Embedder:          contextString(app, "embedder", "sagemaker"),
		BedrockModel:      contextString(app, "bedrockModel", ""),
		EmbeddingDim:      contextInt(app, "embeddingDim", 1024),
		Model:             contextString(app, "model", "clip-vit-base-patch32"),
		FunctionsDir:      contextString(app, "functionsDir", filepath.Join(root, "dist")),
		LayerDir:          contextString(app, "layerDir", filepath.Join(root, "dist", "layer-ffmpeg")),
		RepoDir:           root,
		EmbedConcurrency:  contextInt(app, "embedConcurrency", 5),
		ChunkConcurrency:  contextInt(app, "chunkConcurrency", 20),
		Workflow:          WorkflowOptions{MapConcurrency: contextInt(app, "mapConcurrency", 4)},
	}
	if o := contextString(app, "corsOrigins", ""); o != "" {
		cfg.CorsOrigins = strings.Split(o, ",")
	}
	NewStack(app, contextString(app, "stackName", "scenedex"), &awscdk.StackProps{Env: env()}, cfg)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
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
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
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
