// Command finalize marks a video READY and publishes "Video Indexed" on EventBridge.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("finalize")
}
