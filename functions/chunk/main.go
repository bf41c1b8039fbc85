// Command chunk consumes the window queue: each message is one window of a
// video and the task token of the workflow's Map item waiting on it. It cuts
// the window into chunks, thumbnails and frames (ffmpeg from the layer),
// stores them in S3, sends one SQS message per chunk and answers the token.
package main

import (
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/lambdas"
)

func main() {
	cloud.Run(func(f *lambdas.Functions) any { return f.Chunk }, "BUCKET", "CHUNK_QUEUE_URL", "WINDOW_MAX_RECEIVES", "WINDOW_DLQ_ARN")
}
