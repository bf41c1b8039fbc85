// Command sweep runs on a schedule: uploads that never arrived before their
// URLs expired end FAILED, so no video stays UPLOADING forever.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("sweep")
}
