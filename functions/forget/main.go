// Command forget follows S3 "Object Deleted" events (EventBridge) for keys
// under uploads/: the video made from the object is removed — documents,
// words, chunk files, record — so the catalog stays in step with the bucket.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("forget")
}
