// Package contract runs every Lambda function of the synthesized stack with
// exactly the environment the template gives it and checks every AWS call
// its real SDK clients make against its synthesized IAM policy
// (harness/template, harness/iam). An unset variable the code needs, or a
// call the policy does not allow, fails the test naming the function, the
// call and the missing statement.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/harness/iam"
	"github.com/scenedex/scenedex/harness/template"
	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/lambdas"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// TestEveryFunctionHasWhatItsCodeCalls drives the handler paths the other
// tests drive (internal/lambdas, functions/, internal/cloud), each through
// the function the stack deploys for it: a video uploaded, started, probed,
// cut, awaited, embedded and finalized; the api's routes (status, list,
// search, concepts, re-index in place and a model switch whose page and
// chunk messages the embed function takes, dead letters and their redrive,
// reprocess, delete); a file that is not a video failed; the sweep; an
// object deleted and forgotten.
func TestEveryFunctionHasWhatItsCodeCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes the stack")
	}
	w := newWorld(t)
	ctx := context.Background()
	fns := map[string]*function{}
	for _, name := range sortedNames(w.st) {
		f, err := w.function(name)
		if err != nil {
			t.Error(err)
			continue
		}
		fns[name] = f
	}
	ran := map[string]bool{}
	call := func(name string, event, out any) error {
		ran[name] = true
		f := fns[name]
		if f == nil {
			return fmt.Errorf("%s could not be built", name)
		}
		return f.invoke(ctx, event, out)
	}
	must := func(name string, event, out any) {
		t.Helper()
		if err := call(name, event, out); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	api := func(fn, method, path string, body any, out any) int {
		t.Helper()
		req := events.APIGatewayV2HTTPRequest{RawPath: path, Headers: map[string]string{"content-type": "application/json"}}
		if p, q, ok := strings.Cut(path, "?"); ok {
			req.RawPath, req.RawQueryString = p, q
		}
		req.RequestContext.HTTP.Method, req.RequestContext.HTTP.Path = method, req.RawPath
		if body != nil {
			b, _ := json.Marshal(body)
			req.Body = string(b)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := call(fn, req, &resp); err != nil {
			t.Errorf("%s %s %s: %v", fn, method, path, err)
			return 0
		}
		if resp.StatusCode >= 400 {
			t.Errorf("%s %s %s: %d %s", fn, method, path, resp.StatusCode, resp.Body)
		}
		if out != nil {
			json.Unmarshal([]byte(resp.Body), out)
		}
		return resp.StatusCode
	}
	chunkQueue := w.st.Functions["chunk"].Env["CHUNK_QUEUE_URL"]
	// The window queue: the chunk function's event source that has a
	// dead-letter queue (the other is that dead-letter queue).
	windowQueue := ""
	for _, es := range w.st.Functions["chunk"].EventSources {
		if q := w.st.QueueByARN(es.QueueARN); q != nil && q.DeadLetterARN != "" {
			windowQueue = q.URL
		}
	}
	if windowQueue == "" {
		t.Fatalf("the chunk function's event sources %+v: none is a queue with a dead-letter queue", w.st.Functions["chunk"].EventSources)
	}
	// deliver plays the embed function's event source mapping: the queue's
	// messages as one SQS event; every one must be taken.
	var delivered []*message
	deliver := func(what string) int {
		t.Helper()
		msgs := w.sqs.take(chunkQueue)
		if len(msgs) == 0 {
			return 0
		}
		delivered = append(delivered, msgs...)
		var resp events.SQSEventResponse
		must("embed", sqsEvent(msgs, w.st.QueueByURL(chunkQueue).ARN), &resp)
		for _, f := range resp.BatchItemFailures {
			for _, m := range msgs {
				if m.id == f.ItemIdentifier {
					t.Errorf("embed could not take %s message %s (SQS would redeliver it, then dead-letter it): %s\nits log: %s",
						what, m.id, m.body, fns["embed"].logs.lines(m.id))
				}
			}
		}
		return len(msgs)
	}

	// A video arrives: POST /v1/videos, the presigned PUT, Object Created.
	dir := t.TempDir()
	video := testvideo.Make(t, dir, "clip.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: 2, GOP: 25})
	data, _ := os.ReadFile(video)
	id, key, created := w.upload(t, api, "clip.mp4", data)
	// EventBridge puts the event on start's events queue (the rule's SQS
	// target); start's event source mapping delivers it.
	if len(w.st.Functions["start"].EventSources) != 1 {
		t.Fatalf("start's event sources %+v, want the events queue", w.st.Functions["start"].EventSources)
	}
	eventsQueue := w.st.QueueByARN(w.st.Functions["start"].EventSources[0].QueueARN)
	w.sqs.put(eventsQueue.URL, string(mustJSON(created)), 0)
	var startResp events.SQSEventResponse
	must("start", sqsEvent(w.sqs.take(eventsQueue.URL), eventsQueue.ARN), &startResp)
	if len(startResp.BatchItemFailures) != 0 {
		t.Errorf("start did not take its event: %+v", startResp)
	}
	if len(w.sfn.runs) != 1 {
		t.Errorf("start started %d runs", len(w.sfn.runs))
	}
	var probed lambdas.ProbeOutput
	must("probe", created, &probed)
	if probed.VideoID != id || len(probed.Windows) == 0 {
		t.Fatalf("probe: %+v", probed)
	}
	// The Map item sends each window to the window queue with its task
	// token (sqs:sendMessage.waitForTaskToken: the state machine's role);
	// the chunk function's event source delivers it and the function
	// answers the token with the window's chunk count.
	var counts []int
	for i, win := range probed.Windows {
		token := fmt.Sprintf("window-%d", i)
		w.sqs.put(windowQueue, string(mustJSON(lambdas.ChunkInput{Video: probed.Video, Plan: probed.Plan, Window: win, TaskToken: token})), 1)
		msgs := w.sqs.take(windowQueue)
		var resp events.SQSEventResponse
		must("chunk", sqsEvent(msgs, w.st.QueueByURL(windowQueue).ARN), &resp)
		var out lambdas.ChunkOutput
		if err := json.Unmarshal([]byte(w.sfn.outputs[token]), &out); err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("chunk answered window %d with %q (%v), failures %v\nits log: %s", i, w.sfn.outputs[token], err, resp.BatchItemFailures,
				fns["chunk"].logs.lines(""))
		}
		counts = append(counts, out.Chunks)
	}
	must("await", lambdas.AwaitInput{VideoID: id, Counts: counts, TaskToken: "tok-1"}, nil)
	if n := deliver("chunk"); n == 0 {
		t.Error("chunk queued no messages")
	}
	if !slices.Contains(w.sfn.succeeded, "tok-1") {
		t.Errorf("the embeddings wait was not released: %v", w.sfn.succeeded)
	}
	var ready scenedex.Video
	must("finalize", lambdas.VideoRef{VideoID: id}, &ready)
	if ready.Status != scenedex.StatusReady || len(w.events.sent) != 1 {
		t.Errorf("finalize: %s, %d events", ready.Status, len(w.events.sent))
	}

	// The api's routes.
	api("api", http.MethodGet, "/v1/videos/"+id, nil, nil)
	api("api", http.MethodGet, "/v1/videos?collection=ads", nil, nil)
	api("api", http.MethodPost, "/v1/search", map[string]any{"text": "a test pattern", "collection": "ads"}, nil)
	api("api", http.MethodPost, "/v1/concepts", map[string]any{"concepts": []any{map[string]any{"text": "pattern"}}}, nil)
	api("api", http.MethodPost, "/v1/reindex", pipeline.ReindexRequest{VideoID: id}, nil)
	deliver("re-index")
	// A model switch: the api starts it, the embed function takes its page
	// messages (which queue the catalog's chunks) and the chunks.
	var before pipeline.ModelStatus
	api("api", http.MethodGet, "/v1/reindex", nil, &before)
	w.model.Add("other", otherModel{})
	api("api", http.MethodPost, "/v1/reindex", pipeline.ReindexRequest{Model: "other"}, nil)
	for round := 0; round < 6 && deliver("model switch") > 0; round++ {
	}
	var status pipeline.ModelStatus
	api("api", http.MethodGet, "/v1/reindex", nil, &status)
	if status.Model != "other" || status.Switch != nil {
		t.Errorf("the model switch did not complete: %+v", status)
	}
	// Another switch, cancelled before its page is taken: the page
	// message is then dropped.
	api("api", http.MethodPost, "/v1/reindex", pipeline.ReindexRequest{Model: before.Model}, nil)
	api("api", http.MethodDelete, "/v1/reindex", nil, nil)
	deliver("cancelled switch")

	// A large upload is a multipart one; deleting its video aborts it.
	var big httpapi.CreateVideoResponse
	api("upload", http.MethodPost, "/v1/videos", map[string]any{"filename": "big.mp4", "size": 300 << 20, "content_type": "video/mp4",
		"collection": "ads"}, &big)
	if len(big.Upload.Parts) == 0 {
		t.Errorf("a 300 MiB upload got no parts: %+v", big.Upload)
	}
	api("api", http.MethodDelete, "/v1/videos/"+big.Video.ID, nil, nil)

	// A file that is not a video: probe refuses it, fail records why.
	badID, _, bad := w.upload(t, api, "notes.mp4", bytes.Repeat([]byte("text\n"), 200))
	var permanent *lambdas.Permanent
	if err := call("probe", bad, nil); !errors.As(err, &permanent) {
		t.Errorf("probe of a non-video: %v, want a Permanent error", err)
	}
	var d lambdas.S3ObjectCreated
	json.Unmarshal(bad.Detail, &d)
	fail := lambdas.FailInput{VideoID: badID, Detail: &d}
	fail.Error.Error, fail.Error.Cause = "Permanent", "not a video"
	var failed scenedex.Video
	must("fail", fail, &failed)
	if failed.Status != scenedex.StatusFailed {
		t.Errorf("fail: %+v", failed)
	}
	api("api", http.MethodPost, "/v1/videos/"+badID+"/reprocess", nil, nil)

	// Dead letters: a chunk message that failed three times, an event
	// whose run never started; listed, then redriven.
	w.sqs.put(w.st.Functions["api"].Env["CHUNKS_DLQ_URL"], delivered[0].body, 3)
	w.sqs.put(w.st.Functions["api"].Env["EVENTS_DLQ_URL"], string(mustJSON(created)), 1)
	api("api", http.MethodGet, "/v1/dead-letters", nil, nil)
	api("api", http.MethodPost, "/v1/dead-letters/redrive", nil, nil)
	deliver("redriven")

	must("sweep", nil, nil)

	// The object is deleted: forget removes its video; the api deletes the
	// other one.
	if err := w.deleteObject(key); err != nil {
		t.Fatal(err)
	}
	var forgot lambdas.ForgetResult
	must("forget", w.objectEvent("Object Deleted", key, 0, ""), &forgot)
	if forgot.Removed != 1 {
		t.Errorf("forget removed %d videos", forgot.Removed)
	}
	api("api", http.MethodDelete, "/v1/videos/"+badID, nil, nil)

	// Steps that find their video deleted clear what it made and end
	// quietly: await releases its wait, finalize ends.
	must("await", lambdas.AwaitInput{VideoID: id, Counts: counts, TaskToken: "tok-gone"}, nil)
	if !slices.Contains(w.sfn.succeeded, "tok-gone") {
		t.Errorf("await of a deleted video did not release its wait: %v", w.sfn.succeeded)
	}
	if err := call("finalize", lambdas.VideoRef{VideoID: id}, nil); err != nil {
		t.Errorf("finalize of a deleted video: %v", err)
	}
	// A window that failed every attempt reaches the window queue's
	// dead-letter queue; chunk fails its token from there.
	var windowDLQ string
	for _, es := range w.st.Functions["chunk"].EventSources {
		if q := w.st.QueueByARN(es.QueueARN); q != nil && q.URL != windowQueue {
			windowDLQ = q.URL
		}
	}
	w.sqs.put(windowDLQ, string(mustJSON(lambdas.ChunkInput{Video: probed.Video, Plan: probed.Plan, Window: probed.Windows[0],
		TaskToken: "window-dead"})), 1)
	var dead events.SQSEventResponse
	must("chunk", sqsEvent(w.sqs.take(windowDLQ), w.st.QueueByURL(windowDLQ).ARN), &dead)
	if !slices.Contains(w.sfn.failed, "window-dead") || len(dead.BatchItemFailures) > 0 {
		t.Errorf("chunk did not fail a dead window's token: %v, failures %v", w.sfn.failed, dead.BatchItemFailures)
	}

	// What each function was seen to call (go test -v shows it).
	seen := map[string]map[string]bool{}
	for _, a := range w.guard.Allowed() {
		if seen[a.Function] == nil {
			seen[a.Function] = map[string]bool{}
		}
		for _, r := range a.Requests {
			seen[a.Function][r.Action] = true
		}
	}
	for _, name := range sortedNames(w.st) {
		var actions []string
		for a := range seen[name] {
			actions = append(actions, a)
		}
		sort.Strings(actions)
		t.Logf("%s called %s", name, strings.Join(actions, " "))
	}
	for _, v := range w.guard.Violations() {
		t.Errorf("IAM: %s", v)
	}
	for _, name := range sortedNames(w.st) {
		if !ran[name] {
			t.Errorf("%s: the template deploys it but the contract test runs none of its paths", name)
		}
	}
}

// sqsEvent is the event an SQS event source mapping delivers for msgs.
func sqsEvent(msgs []*message, queueARN string) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.id, ReceiptHandle: m.receipt, Body: m.body,
			Attributes:  map[string]string{"ApproximateReceiveCount": fmt.Sprint(max(m.receives, 1))},
			EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: template.Region})
	}
	return ev
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// upload is POST /v1/videos through the upload function, the client's PUT
// to the presigned URL, and the Object Created event S3 then sends.
func (w *world) upload(t *testing.T, api func(fn, method, path string, body, out any) int, name string, data []byte) (id, key string, ev events.EventBridgeEvent) {
	t.Helper()
	var created httpapi.CreateVideoResponse
	api("upload", http.MethodPost, "/v1/videos", map[string]any{"filename": name, "size": len(data), "content_type": "video/mp4",
		"collection": "ads"}, &created)
	req, _ := http.NewRequest(http.MethodPut, created.Upload.URL, bytes.NewReader(data))
	req.ContentLength = int64(len(data))
	req.Header.Set("Content-Type", "video/mp4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT to the presigned URL: %v %v", resp, err)
	}
	resp.Body.Close()
	etag := strings.Trim(resp.Header.Get("ETag"), `"`)
	return created.Video.ID, created.Video.Key, w.objectEvent("Object Created", created.Video.Key, int64(len(data)), etag)
}

// objectEvent is the EventBridge event S3 sends for key.
func (w *world) objectEvent(detailType, key string, size int64, etag string) events.EventBridgeEvent {
	detail := map[string]any{"bucket": map[string]any{"name": w.bucket},
		"object": map[string]any{"key": strings.ReplaceAll(key, " ", "+"), "size": size, "etag": etag, "sequencer": "0062E99A88DC407460"},
		"reason": "PutObject"}
	return events.EventBridgeEvent{Version: "0", ID: "ev-" + key, DetailType: detailType, Source: "aws.s3",
		AccountID: "123456789012", Region: "us-east-1", Detail: mustJSON(detail)}
}

// deleteObject removes an upload as the bucket's owner would: with the
// endpoint's own key, straight to it (the guard knows the functions only).
func (w *world) deleteObject(key string) error {
	owner := httptest.NewServer(w.s3)
	defer owner.Close()
	return s3blob.New(s3blob.LocalClient(owner.URL, w.s3.AccessKey, w.s3.Secret), w.bucket).Delete(context.Background(), key)
}

// otherModel is a second model the endpoint serves, for a model switch: a
// constant unit vector of another length than the live model's.
type otherModel struct{}

func (otherModel) EmbedImages(_ context.Context, images [][]byte) ([][]float32, error) {
	out := make([][]float32, len(images))
	for i := range out {
		out[i] = []float32{0.6, 0.8, 0}
	}
	return out, nil
}

func (otherModel) EmbedText(context.Context, string) ([]float32, error) {
	return nil, scenedex.Errorf(scenedex.CodeUnsupported, "image-only")
}

// TestEventSourcesCanBeRead: Lambda polls a function's SQS event source
// with the function's own role, which needs sqs:ReceiveMessage,
// sqs:DeleteMessage and sqs:GetQueueAttributes on the queue (AWS Lambda
// Developer Guide, "Using Lambda with Amazon SQS": execution role
// permissions). A mapping the role cannot read is disabled at deploy.
func TestEventSourcesCanBeRead(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes the stack")
	}
	st, err := template.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range sortedNames(st) {
		for _, es := range st.Functions[name].EventSources {
			n++
			for _, action := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} {
				req := iam.Request{Action: action, Resource: es.QueueARN}
				if d := iam.Evaluate(st.Functions[name].Policy, req); d != iam.Allow {
					t.Errorf("%s: its event source %s: %s on %s is refused (%s)", name, es.LogicalID, action, es.QueueARN, d)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no function has an event source: the template is not the one expected")
	}
}
