// Command finalize marks a video READY and publishes "Video Indexed" on EventBridge.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return f.Finalize }, "TABLE", "BUCKET", "OPENSEARCH_ENDPOINT")
}
