// Command embed consumes the chunk queue: frames -> SageMaker -> OpenSearch, each chunk
// marked done once, partial batch failures reported to SQS.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("embed")
}
