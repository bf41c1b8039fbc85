// Command forget follows S3 "Object Deleted" events (EventBridge) for keys
// under uploads/: the video made from the object is removed — documents,
// words, chunk files, record — so the catalog stays in step with the bucket.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return f.Forget }, "BUCKET", "TABLE", "OPENSEARCH_ENDPOINT")
}
