// Command await is the workflow's .waitForTaskToken task: it records the chunk total
// and the task token that the embed function releases when the last chunk is
// indexed.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("await")
}
