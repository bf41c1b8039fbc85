// Command sweep runs on a schedule: uploads that never arrived before their
// URLs expired end FAILED, so no video stays UPLOADING forever.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return f.Sweep }, "BUCKET", "TABLE")
}
