// Command start is the target of the EventBridge rule on Object Created under
// uploads/: it starts the workflow with an execution named after the object
// version, so a duplicate event starts nothing twice.
package main

import "github.com/scenedex/scenedex/internal/cloud"

func main() {
	cloud.Main("start")
}
