// Command api is the Lambda behind the other /v1 routes (status, list, delete, search)
// through API Gateway HTTP API (payload v2), serving the same http.Handler as
// the local server.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return lambdas.HTTP(f.API()) }, "BUCKET", "TABLE", "OPENSEARCH_ENDPOINT", "EMBEDDING_ENDPOINT|BEDROCK_MODEL_ID")
}
