// Command fail records why a workflow failed: the video ends FAILED with the reason.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("fail")
}
