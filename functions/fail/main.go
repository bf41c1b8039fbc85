// Command fail records why a workflow failed: the video ends FAILED with the reason.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return f.Fail }, "BUCKET", "TABLE")
}
