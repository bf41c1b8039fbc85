// Command probe is the workflow's first task: it registers the object of an EventBridge
// Object Created event, runs ffprobe (from the layer) on a presigned GET and
// plans the windows.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return f.Probe }, "BUCKET", "TABLE")
}
