// Command chunk consumes the window queue: each message is one window of a
// video and the task token of the workflow's Map item waiting on it. It cuts
// the window into chunks, thumbnails and frames (ffmpeg from the layer),
// stores them in S3, sends one SQS message per chunk and answers the token.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("chunk")
}
