// Command probe is the workflow's first task: it registers the object of an EventBridge
// Object Created event, runs ffprobe (from the layer) on a presigned GET and
// plans the windows.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("probe")
}
