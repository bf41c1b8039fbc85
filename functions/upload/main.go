// Command upload is the Lambda behind POST /v1/videos (API Gateway HTTP API, payload v2):
// it validates the request, records the video and returns a presigned PUT scoped
// to one key. It serves the same http.Handler as the local server.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return lambdas.HTTP(f.API()) }, "BUCKET", "TABLE")
}
