// Command embed consumes the chunk queue: frames -> SageMaker -> OpenSearch, each chunk
// marked done once, partial batch failures reported to SQS.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return f.Embed }, "BUCKET", "TABLE", "OPENSEARCH_ENDPOINT", "EMBEDDING_ENDPOINT|BEDROCK_MODEL_ID")
}
