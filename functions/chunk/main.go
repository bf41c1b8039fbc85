// Command chunk is the workflow's Map item: it cuts one window into chunks, thumbnails
// and frames (ffmpeg from the layer), stores them in S3 and sends one SQS
// message per chunk.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("chunk")
}
