// Command sweep runs on a schedule: deletes cut short are completed, and
// uploads that never arrived before their URLs expired end FAILED, so no video
// stays UPLOADING or DELETING forever.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return f.Sweep }, "BUCKET", "TABLE", "OPENSEARCH_ENDPOINT")
}
