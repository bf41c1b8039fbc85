package lambdas

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/sqsq"
)

// API is the HTTP API handler of the functions: the local server's, with
// the cloud's dead-letter queues.
func (f *Functions) API() http.Handler {
	a := httpapi.New(f.P, f.Log)
	if f.DeadLetters != nil {
		a.DeadLetters = f.DeadLetters
	}
	return a
}

// StartEvent starts the run of a dead-lettered Object Created event: the
// event itself (the rule's DLQ), or the record of a failed asynchronous
// invocation of start, which holds it as requestPayload.
func (f *Functions) StartEvent(ctx context.Context, body []byte) error {
	var record struct {
		RequestPayload json.RawMessage `json:"requestPayload"`
	}
	if json.Unmarshal(body, &record) == nil && len(record.RequestPayload) > 0 {
		body = record.RequestPayload
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return &Permanent{Message: "a dead letter that is not an EventBridge event: " + err.Error()}
	}
	if ev.DetailType != "Object Created" {
		return fmt.Errorf("a dead letter of detail-type %q: %w", ev.DetailType, sqsq.ErrNotStartable)
	}
	return f.startEvent(ctx, ev)
}

// HTTP adapts the API's http.Handler (the same one the local server runs) to
// API Gateway HTTP API (payload v2) events.
func HTTP(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}
