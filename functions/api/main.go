// Command api is the Lambda behind the other /v1 routes (status, list, delete, search)
// through API Gateway HTTP API (payload v2), serving the same http.Handler as
// the local server.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("api")
}
