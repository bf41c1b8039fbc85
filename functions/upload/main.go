// Command upload is the Lambda behind POST /v1/videos (API Gateway HTTP API, payload v2):
// it validates the request, records the video and returns a presigned PUT scoped
// to one key. It serves the same http.Handler as the local server.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("upload")
}
