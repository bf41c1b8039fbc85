// Command sweep runs on a schedule: deletes cut short are completed, and
// uploads that never arrived before their URLs expired end FAILED, so no video
// stays UPLOADING or DELETING forever.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("sweep")
}
