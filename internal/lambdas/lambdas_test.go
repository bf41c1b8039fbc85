package lambdas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/s3local"
	"github.com/scenedex/scenedex/internal/sagemaker"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/sqsq"
	"github.com/scenedex/scenedex/internal/testvideo"
	"github.com/scenedex/scenedex/internal/vecindex"
)

// The handlers run against real things wherever they can run here: S3 is the
// local S3 endpoint through the real SDK, the model is the local model server
// through the real SageMaker runtime client, ffmpeg is real, the catalog and
// index are the local SQLite ones (the DynamoDB and OpenSearch adapters are
// tested against their service stand-ins in their own packages). Step
// Functions' task-token calls and SQS delivery are what these tests play:
// recordingTokens stands in for Step Functions, and the tests build the SQS
// and EventBridge events Lambda would deliver.

// memTokens keeps task tokens beside the SQLite catalog (DynamoDB keeps them on
// the video item).
type memTokens struct {
	*sqlite.Catalog
	mu     sync.Mutex
	tokens map[string]string
}

func (m *memTokens) SetTaskToken(ctx context.Context, id, token string) (scenedex.Video, error) {
	m.mu.Lock()
	m.tokens[id] = token
	m.mu.Unlock()
	return m.Catalog.Get(ctx, id)
}

func (m *memTokens) TaskToken(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens[id], nil
}

type recordingTokens struct {
	mu        sync.Mutex
	succeeded []string
	outputs   map[string]string // token -> the JSON it was answered with
	failed    []string
	// refuse answers these tokens with an error, as internal/sfn reports
	// Step Functions' InvalidToken (CodeInvalid) or throttling (CodeUnavailable).
	refuse map[string]error
}

func (r *recordingTokens) Succeed(_ context.Context, token string, output any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refuse[token]; err != nil {
		return err
	}
	r.succeeded = append(r.succeeded, token)
	b, _ := json.Marshal(output)
	if r.outputs == nil {
		r.outputs = map[string]string{}
	}
	r.outputs[token] = string(b)
	return nil
}

func (r *recordingTokens) Fail(_ context.Context, token, code, cause string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refuse[token]; err != nil {
		return err
	}
	r.failed = append(r.failed, token+" "+code+": "+cause)
	return nil
}

type recordingEvents struct{ indexed []string }

func (r *recordingEvents) VideoIndexed(_ context.Context, v scenedex.Video) error {
	r.indexed = append(r.indexed, v.ID)
	return nil
}

type queue struct {
	mu   sync.Mutex
	sent []scenedex.Chunk
	err  error // SQS failing for a while: every send fails with it
}

func (q *queue) SendChunks(_ context.Context, c []scenedex.Chunk) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.sent = append(q.sent, c...)
	return nil
}

type env struct {
	fns    *Functions
	store  *s3blob.Store
	index  *vecindex.Index
	tokens *recordingTokens
	events *recordingEvents
	queue  *queue
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s3srv, err := s3local.New(s3local.Config{Dir: dir, Bucket: "media"})
	if err != nil {
		t.Fatal(err)
	}
	s3http := httptest.NewServer(s3srv)
	t.Cleanup(s3http.Close)
	model := httptest.NewServer(modelserver.New(modelserver.Options{}))
	t.Cleanup(model.Close)
	cat, err := sqlite.OpenCatalog(ctx, filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	ix, err := vecindex.Open(ctx, filepath.Join(dir, "ix.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	tool, err := ffmpeg.Find("")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: s3blob.New(s3blob.LocalClient(s3http.URL, s3srv.AccessKey, s3srv.Secret), "media"), index: ix,
		tokens: &recordingTokens{}, events: &recordingEvents{}, queue: &queue{}}
	p := pipeline.New(pipeline.Config{ChunkSeconds: 2, WindowChunks: 2}, e.store, cat, ix,
		sagemaker.New(sagemaker.LocalClient(model.URL), "scenedex"), e.queue, tool, nil)
	e.fns = &Functions{P: p, Store: &memTokens{Catalog: cat, tokens: map[string]string{}}, Tokens: e.tokens, Events: e.events,
		Log: p.Log}
	return e
}

// s3Event is EventBridge's "Object Created" event as S3 sends it, key
// URL-encoded.
func s3Event(t *testing.T, key string, size int64, etag string) events.EventBridgeEvent {
	t.Helper()
	return s3EventOf(t, key, size, etag, "00617F08299329D189")
}

// s3EventOf is s3Event of the arrival whose S3 sequencer is seq.
func s3EventOf(t *testing.T, key string, size int64, etag, seq string) events.EventBridgeEvent {
	t.Helper()
	raw := fmt.Sprintf(`{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created",
		"source":"aws.s3","account":"123456789012","time":"2021-11-12T00:00:00Z","region":"us-east-1",
		"resources":["arn:aws:s3:::media"],"detail":{"version":"0","bucket":{"name":"media"},
		"object":{"key":%q,"size":%d,"etag":%q,"sequencer":%q},
		"request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","source-ip-address":"1.2.3.4","reason":"PutObject"}}`,
		url.QueryEscape(key), size, etag, seq)
	var ev events.EventBridgeEvent
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// roundTrip passes v through JSON, as Step Functions passes state.
func roundTrip[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sqsEvent(chunks []scenedex.Chunk, extra ...string) events.SQSEvent {
	var ev events.SQSEvent
	for _, c := range chunks {
		b, _ := json.Marshal(c)
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m-" + c.ID(), Body: string(b), EventSource: "aws:sqs"})
	}
	for i, body := range extra {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("extra-", i), Body: body, EventSource: "aws:sqs"})
	}
	return ev
}

// windowEvent is the window queue's delivery of one window to the chunk
// function, as Lambda's SQS event source builds it (one record: BatchSize 1),
// on its receive-th receive.
func windowEvent(t *testing.T, in ChunkInput, receive int) events.SQSEvent {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return events.SQSEvent{Records: []events.SQSMessage{{MessageId: fmt.Sprintf("w-%s-%d", in.Video.ID, in.Window.Index),
		Body: string(b), EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:scenedex-Windows",
		Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(receive)}}}}
}

// cutWindow delivers a window to the chunk function and returns the chunk
// count its task token was answered with.
func (e *env) cutWindow(t *testing.T, in ChunkInput) int {
	t.Helper()
	in.TaskToken = fmt.Sprintf("win-%s-%d-%d", in.Video.ID, in.Window.Index, len(e.tokens.succeeded))
	resp, err := e.fns.Chunk(context.Background(), windowEvent(t, in, 1))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("chunk window %d: %+v %v", in.Window.Index, resp, err)
	}
	out := roundTrip[ChunkOutput](t, json.RawMessage(e.tokens.outputs[in.TaskToken]))
	return out.Chunks
}

func TestWorkflowWithDuplicates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: 2, GOP: 25, Audio: true})
	key := "uploads/ads/week 1/my clip+ü 100%.mp4"
	f, _ := os.Open(video)
	if err := e.store.Put(ctx, key, f, "video/mp4"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, _ := e.store.Head(ctx, key)
	ev := s3Event(t, key, info.Size, info.ETag)

	out, err := e.fns.Probe(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if out.Skip || out.Video.Key != key || out.Video.Collection != "ads" || len(out.Windows) != 2 || len(out.Plan.Windows) != 0 {
		t.Fatalf("probe output %+v", out)
	}
	state := roundTrip[ProbeOutput](t, out)
	var counts []int
	for i, w := range state.Windows {
		in := ChunkInput{Video: state.Video, Plan: state.Plan, Window: w}
		n := e.cutWindow(t, roundTrip[ChunkInput](t, in))
		if i == 0 { // SQS delivers the window again (at least once): the same chunks
			if again := e.cutWindow(t, in); again != n {
				t.Fatalf("window delivered again: %d chunks, then %d", n, again)
			}
		}
		counts = append(counts, n)
	}
	if err := e.fns.Await(ctx, AwaitInput{VideoID: state.VideoID, Counts: counts, TaskToken: "tok-1"}); err != nil {
		t.Fatal(err)
	}
	if len(e.tokens.succeeded) != 3 { // the windows' tokens only
		t.Fatalf("token released before any embedding: %v", e.tokens.succeeded)
	}
	// SQS: the first batch is delivered twice; a poison message rides along.
	sent := e.queue.sent
	if len(sent) != 3+2 { // 3 chunks, the first window's twice
		t.Fatalf("%d chunk messages sent", len(sent))
	}
	batches := [][]scenedex.Chunk{sent[:2], sent[:2], sent[2:]}
	for i, b := range batches {
		extra := []string{}
		if i == 2 {
			extra = append(extra, "Message Body")
		}
		resp, err := e.fns.Embed(ctx, sqsEvent(b, extra...))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) != len(extra) {
			t.Fatalf("batch %d: failures %+v", i, resp.BatchItemFailures)
		}
	}
	if len(e.tokens.succeeded) != 4 || e.tokens.succeeded[3] != "tok-1" {
		t.Fatalf("token not released: %+v", e.tokens)
	}
	v, err := e.fns.Finalize(ctx, VideoRef{VideoID: state.VideoID})
	if err != nil || v.Status != scenedex.StatusReady || v.ChunksDone != 3 || v.ChunksTotal != 3 {
		t.Fatalf("finalize: %+v %v", v, err)
	}
	if e.index.Len() != 3 || len(e.events.indexed) != 1 {
		t.Fatalf("index holds %d docs, events %v", e.index.Len(), e.events.indexed)
	}
	// A duplicate S3 event starts nothing.
	if dup, err := e.fns.Probe(ctx, ev); err != nil || !dup.Skip {
		t.Fatalf("duplicate event: %+v %v", dup, err)
	}
	// A re-index of the READY video goes back through SQS: every chunk is
	// re-embedded, no finished workflow's token is touched, nothing fails.
	e.queue.sent = nil
	res, err := e.fns.P.Reindex(ctx, pipeline.ReindexRequest{VideoID: state.VideoID})
	if err != nil || res.Chunks != 3 || len(e.queue.sent) != 3 || e.queue.sent[0].Run == "" {
		t.Fatalf("reindex %+v %v (%d sent)", res, err, len(e.queue.sent))
	}
	released := len(e.tokens.succeeded)
	resp, err := e.fns.Embed(ctx, sqsEvent(e.queue.sent))
	if err != nil || len(resp.BatchItemFailures) != 0 || len(e.tokens.succeeded) != released {
		t.Fatalf("re-embed: %+v %v, tokens %+v", resp, err, e.tokens)
	}
	if v, _ := e.fns.P.Catalog.Get(ctx, state.VideoID); v.Status != scenedex.StatusReady || v.ChunksDone != 3 || e.index.Len() != 3 {
		t.Fatalf("after reindex %+v, %d docs", v, e.index.Len())
	}
}

func TestProbeFailuresAndFail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := "uploads/ads/notes.mp4"
	e.store.Put(ctx, key, strings.NewReader("not a video at all"), "video/mp4")
	info, _ := e.store.Head(ctx, key)
	ev := s3Event(t, key, info.Size, info.ETag)
	_, err := e.fns.Probe(ctx, ev)
	var perm *Permanent
	if !errorsAs(err, &perm) || !strings.Contains(perm.Message, "Invalid data") {
		t.Fatalf("probe of a text file: %T %v", err, err)
	}
	// Step Functions' Catch hands the original input plus the error to fail.
	catch := map[string]any{"detail": json.RawMessage(ev.Detail), "error": map[string]string{
		"Error": "Permanent", "Cause": fmt.Sprintf(`{"errorMessage":%q,"errorType":"Permanent"}`, perm.Message)}}
	in := roundTrip[FailInput](t, catch)
	v, err := e.fns.Fail(ctx, in)
	if err != nil || v.Status != scenedex.StatusFailed || !strings.Contains(v.Reason, "Invalid data") || strings.Contains(v.Reason, "errorType") {
		t.Fatalf("fail: %+v %v", v, err)
	}
	// An event for an object that is gone is a permanent error too.
	if _, err := e.fns.Probe(ctx, s3Event(t, "uploads/ads/gone.mp4", 5, "x")); !errorsAs(err, &perm) {
		t.Fatalf("gone object: %T %v", err, err)
	}
	// Not an S3 event.
	if _, err := e.fns.Probe(ctx, events.EventBridgeEvent{Detail: json.RawMessage(`{}`)}); !errorsAs(err, &perm) {
		t.Fatalf("empty event: %v", err)
	}
}

func errorsAs[T error](err error, target *T) bool {
	t, ok := err.(T)
	if ok {
		*target = t
	}
	return ok
}

// lambdaFixture reads one of aws-lambda-go's own test events.
func lambdaFixture(t *testing.T, name string) []byte {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatalf("locate aws-lambda-go: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "events", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEmbedWithSQSFixture(t *testing.T) {
	e := newEnv(t)
	var ev events.SQSEvent
	if err := json.Unmarshal(lambdaFixture(t, "sqs-event.json"), &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := e.fns.Embed(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// Its bodies are not chunks: each is reported, alone, as a failed item.
	if len(resp.BatchItemFailures) != len(ev.Records) || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[0].MessageId {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
}

func TestHTTPAdapterWithAPIGatewayFixture(t *testing.T) {
	e := newEnv(t)
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(lambdaFixture(t, "apigw-v2-request-iam.json"), &req); err != nil {
		t.Fatal(err)
	}
	handler := HTTP(httpapi.New(e.fns.P, nil))
	req.RawPath, req.RequestContext.HTTP.Path, req.RequestContext.HTTP.Method = "/v1/videos", "/v1/videos", http.MethodPost
	req.RawQueryString, req.QueryStringParameters = "", nil
	req.Headers = map[string]string{"content-type": "application/json"}
	req.Body = `{"filename":"my clip ü.mp4","size":1234,"collection":"ads"}`
	resp, err := handler(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var created httpapi.CreateVideoResponse
	if resp.StatusCode != 201 || json.Unmarshal([]byte(resp.Body), &created) != nil {
		t.Fatalf("POST /v1/videos: %d %s", resp.StatusCode, resp.Body)
	}
	u, _ := url.Parse(created.Upload.URL)
	if created.Video.Key != "uploads/ads/"+created.Video.ID+"/my_clip_ü.mp4" || u.Query().Get("X-Amz-Expires") != "900" ||
		!strings.Contains(u.Query().Get("X-Amz-SignedHeaders"), "content-length") {
		t.Fatalf("upload %+v", created)
	}
	// Unknown id through the same adapter: the API's JSON error.
	req.RawPath, req.RequestContext.HTTP.Path, req.RequestContext.HTTP.Method, req.Body = "/v1/videos/nope", "/v1/videos/nope", http.MethodGet, ""
	resp, _ = handler(context.Background(), req)
	if resp.StatusCode != 404 || !strings.Contains(resp.Body, `"not_found"`) {
		t.Fatalf("GET unknown: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestExecutionName(t *testing.T) {
	mk := func(key, etag, seq string) S3ObjectCreated {
		var d S3ObjectCreated
		d.Bucket.Name, d.Object.Key, d.Object.ETag, d.Object.Sequencer = "media", key, etag, seq
		return d
	}
	a := mk("uploads/ads/my+clip+%C3%BC.mp4", "e1", "s1")
	names := map[string]bool{}
	for _, d := range []S3ObjectCreated{a, mk(a.Object.Key, "e2", "s2"), mk("uploads/ads/other.mp4", "e1", "s1"),
		mk("uploads/"+strings.Repeat("very-long-folder/", 20)+"x.mp4", "e", "s")} {
		n := ExecutionName(d)
		if len(n) > 80 || !regexpValid(n) {
			t.Errorf("invalid execution name %q", n)
		}
		names[n] = true
	}
	if len(names) != 4 {
		t.Errorf("names collide: %v", names)
	}
	if ExecutionName(a) != ExecutionName(mk(a.Object.Key, "e1", "s1")) {
		t.Error("a redelivered event got a second name")
	}
	// The same bytes put back after a delete: a new arrival, a new run.
	if ExecutionName(a) == ExecutionName(mk(a.Object.Key, "e1", "s9")) {
		t.Error("a new arrival of the same bytes got the old run's name")
	}
	// Runs started without an event (sweep, backfill) are named after the
	// content, the same each time.
	if ExecutionName(mk(a.Object.Key, "e1", "")) != ExecutionName(mk(a.Object.Key, "e1", "")) ||
		ExecutionName(mk(a.Object.Key, "e1", "")) == ExecutionName(a) {
		t.Error("content names")
	}
	// A versioned bucket's live event carries the version id; it does not
	// change the run's name, nor the video's id.
	live := a
	live.Object.VersionID = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
	if ExecutionName(live) != ExecutionName(a) {
		t.Error("the version id changed the run's name")
	}
	ev := scenedex.ObjectCreated{Bucket: "media", Key: "uploads/ads/x.mp4", ETag: "e1"}
	withVersion := ev
	withVersion.Version = "v2"
	if pipeline.DropInID(ev) != pipeline.DropInID(withVersion) {
		t.Error("live event and backfill of one object got two video ids")
	}
}

// The sweep (and the backfill) start a run of an object under the name the
// object's own Object Created event gives it, whatever its key holds: one run
// per object version, whichever starts it first.
func TestSweepAndEventNameTheSameRun(t *testing.T) {
	f := &Functions{Bucket: "media"}
	for _, key := range []string{"uploads/ads/a.mp4", "uploads/ads/week 1/my clip+ü.mp4", "uploads/ads/100%/é (1).mp4", "uploads/ads/a~b*c'd.mp4"} {
		// S3 URL-encodes the key of its events as a form value ("red
		// flower.jpg" becomes "red+flower.jpg"), keeping the '/' between
		// folders (Event message structure, Amazon S3 User Guide,
		// https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
		var ev S3ObjectCreated
		ev.Bucket.Name, ev.Object.ETag = "media", "e1"
		ev.Object.Key = strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
		if got, want := ExecutionName(f.detail(key, 10, `"e1"`, "Sweep")), ExecutionName(ev); got != want {
			t.Errorf("%q: the sweep names its run %q, the event %q", key, got, want)
		}
	}
}

// An upload whose object did arrive, but whose run never started (the event
// lost), is started by the sweep instead of failed as "never completed".
func TestSweepStartsUploadsThatArrived(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cat := e.fns.Store.(*memTokens).Catalog
	e.fns.Stale = cat
	starter := &recordingStarter{}
	e.fns.Starter, e.fns.Bucket = starter, "media"
	e.fns.P = pipeline.New(pipeline.Config{UploadTTL: 50 * time.Millisecond}, e.fns.P.Blobs, cat, e.index, e.fns.P.Embedder, e.queue, e.fns.P.Media, nil)
	arrived, _, err := e.fns.P.CreateUpload(ctx, pipeline.UploadRequest{Filename: "arrived.mp4", Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Put(ctx, arrived.Key, strings.NewReader("12345"), "video/mp4"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	res, err := e.fns.Sweep(ctx)
	if err != nil || res.Failed != 0 || res.Started != 1 || len(starter.names) != 1 {
		t.Fatalf("sweep %+v %v, started %v", res, err, starter.names)
	}
	if v, _ := cat.Get(ctx, arrived.ID); v.Status != scenedex.StatusUploading {
		t.Errorf("an arrived upload was failed: %+v", v)
	}
	var ev events.EventBridgeEvent
	json.Unmarshal(starter.inputs[0], &ev)
	var d S3ObjectCreated
	json.Unmarshal(ev.Detail, &d)
	if d.Bucket.Name != "media" || d.Object.Size != 5 || ExecutionName(d) != starter.names[0] {
		t.Errorf("started %s with %+v", starter.names[0], d)
	}
}

type recordingStarter struct {
	names  []string
	inputs [][]byte
}

func (r *recordingStarter) Start(_ context.Context, name string, input []byte) (bool, error) {
	r.names, r.inputs = append(r.names, name), append(r.inputs, input)
	return true, nil
}

// startQueued delivers Object Created events to start as the events queue's
// event source mapping does (each body the EventBridge event) and fails the
// test on any batch item failure.
func startQueued(t *testing.T, f *Functions, evs ...events.EventBridgeEvent) {
	t.Helper()
	var bodies []string
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		bodies = append(bodies, string(b))
	}
	resp, err := f.Start(context.Background(), sqsEvent(nil, bodies...))
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("start: %+v %v", resp.BatchItemFailures, err)
	}
}

// failingStarter refuses to start runs (Step Functions unavailable).
type failingStarter struct{}

func (failingStarter) Start(context.Context, string, []byte) (bool, error) {
	return false, errors.New("ServiceUnavailable")
}

// Start reads the events queue: each good event starts its run (a repeated
// delivery under the same name too: the starter answers it as started), and
// only the messages that are no Object Created event, or whose run could not
// be started, return as batch item failures — for SQS to redeliver, and
// after maxReceiveCount to move to the events DLQ.
func TestStartFromEventsQueue(t *testing.T) {
	starter := &recordingStarter{}
	f := &Functions{Starter: starter, Log: slog.Default()}
	detail, _ := json.Marshal(f.detail("uploads/ads/x.mp4", 10, "e1", "PutObject"))
	good, _ := json.Marshal(events.EventBridgeEvent{DetailType: "Object Created", Source: "aws.s3", Detail: detail})
	noKey, _ := json.Marshal(events.EventBridgeEvent{DetailType: "Object Created", Source: "aws.s3", Detail: json.RawMessage(`{}`)})
	ctx := context.Background()
	resp, err := f.Start(ctx, sqsEvent(nil, string(good), "not json", string(good), string(noKey)))
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, b := range resp.BatchItemFailures {
		failed = append(failed, b.ItemIdentifier)
	}
	if !slices.Equal(failed, []string{"extra-1", "extra-3"}) {
		t.Errorf("batch item failures %v, want the malformed bodies extra-1 and extra-3", failed)
	}
	if len(starter.names) != 2 || starter.names[0] != starter.names[1] {
		t.Errorf("runs %v, want the good event's name twice", starter.names)
	}
	var input events.EventBridgeEvent
	if err := json.Unmarshal(starter.inputs[0], &input); err != nil || input.DetailType != "Object Created" {
		t.Errorf("the run's input is not the event: %s", starter.inputs[0])
	}

	f.Starter = failingStarter{}
	resp, err = f.Start(ctx, sqsEvent(nil, string(good)))
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "extra-0" {
		t.Errorf("a run that could not start was acknowledged: %+v %v", resp, err)
	}
}

func regexpValid(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// Keys arrive URL-encoded ("a b+c" as "a+b%2Bc"); should a key arrive as it
// is, its '+' and '%' must survive too: the object's head decides.
func TestObjectKeyDecoding(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, key := range []string{"uploads/ads/a b+c.mp4", "uploads/ads/x+y.mp4", "uploads/ads/100%.mp4", "uploads/ads/ü é.mp4"} {
		e.store.Put(ctx, key, strings.NewReader("data"), "video/mp4")
	}
	tests := []struct{ sent, want string }{
		{"uploads/ads/a+b%2Bc.mp4", "uploads/ads/a b+c.mp4"},     // encoded, as S3 sends
		{"uploads/ads/x+y.mp4", "uploads/ads/x+y.mp4"},           // literal '+': "x y.mp4" does not exist
		{"uploads/ads/100%25.mp4", "uploads/ads/100%.mp4"},       // encoded percent
		{"uploads/ads/100%.mp4", "uploads/ads/100%.mp4"},         // literal percent (not decodable)
		{"uploads/ads/%C3%BC+%C3%A9.mp4", "uploads/ads/ü é.mp4"}, // encoded unicode
	}
	for _, tc := range tests {
		var d S3ObjectCreated
		d.Bucket.Name, d.Object.Key, d.Object.ETag = "media", tc.sent, "e"
		oc, err := e.fns.objectCreated(ctx, d)
		if err != nil || oc.Key != tc.want || oc.Size != 4 {
			t.Errorf("%q: %+v %v, want %q", tc.sent, oc, err, tc.want)
		}
	}
}

func TestSweepFailsAbandonedUploads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cat := e.fns.Store.(*memTokens).Catalog
	e.fns.Stale = cat
	e.fns.P = pipeline.New(pipeline.Config{UploadTTL: 50 * time.Millisecond}, e.fns.P.Blobs, cat, e.index, e.fns.P.Embedder, e.queue, e.fns.P.Media, nil)
	gone, _, err := e.fns.P.CreateUpload(ctx, pipeline.UploadRequest{Filename: "never.mp4", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	fresh, _, _ := e.fns.P.CreateUpload(ctx, pipeline.UploadRequest{Filename: "soon.mp4", Size: 10})
	res, err := e.fns.Sweep(ctx)
	if err != nil || res.Failed != 1 {
		t.Fatalf("sweep %+v %v", res, err)
	}
	if v, _ := cat.Get(ctx, gone.ID); v.Status != scenedex.StatusFailed || v.Reason != pipeline.AbandonedReason {
		t.Errorf("abandoned: %+v", v)
	}
	if v, _ := cat.Get(ctx, fresh.ID); v.Status != scenedex.StatusUploading {
		t.Errorf("an upload still in time was failed: %+v", v)
	}
}

// A reprocess run of an object is named apart from its first run (whose name
// is taken for ever in Step Functions), validly, and apart per tag.
func TestRerunNames(t *testing.T) {
	starter := &recordingStarter{}
	f := &Functions{Starter: starter, Bucket: "media"}
	ctx := context.Background()
	key := "uploads/ads/" + strings.Repeat("long-name-", 10) + ".mp4"
	for _, tag := range []string{"t1", "t2"} {
		if err := f.Rerun(ctx, key, 10, `"e1"`, tag); err != nil {
			t.Fatal(err)
		}
	}
	first := ExecutionName(f.detail(key, 10, "e1", "x"))
	if len(starter.names) != 2 || starter.names[0] == starter.names[1] || starter.names[0] == first {
		t.Fatalf("names %v (first run %s)", starter.names, first)
	}
	for _, n := range starter.names {
		if len(n) > 80 || !regexpValid(n) {
			t.Errorf("invalid name %q", n)
		}
	}
	var ev events.EventBridgeEvent
	json.Unmarshal(starter.inputs[0], &ev)
	var d S3ObjectCreated
	json.Unmarshal(ev.Detail, &d)
	if d.Bucket.Name != "media" || d.Object.ETag != "e1" || d.Reason != "Reprocess" {
		t.Errorf("event %+v", d)
	}
}

// A dead-lettered event restarts its run, whether it is the event itself
// (the rule's DLQ) or a failed invocation record of start (its on-failure
// destination); both start the run the live event would have.
func TestStartEventFromDeadLetters(t *testing.T) {
	starter := &recordingStarter{}
	f := &Functions{Starter: starter, Log: slog.Default()}
	d := f.detail("uploads/ads/x.mp4", 10, "e1", "PutObject")
	detail, _ := json.Marshal(d)
	ev, _ := json.Marshal(events.EventBridgeEvent{DetailType: "Object Created", Source: "aws.s3", Detail: detail})
	record, _ := json.Marshal(map[string]any{"version": "1.0", "requestContext": map[string]any{"condition": "RetriesExhausted"},
		"requestPayload": json.RawMessage(ev), "responsePayload": map[string]any{"errorMessage": "throttled"}})
	ctx := context.Background()
	for _, body := range [][]byte{ev, record} {
		if err := f.StartEvent(ctx, body); err != nil {
			t.Fatal(err)
		}
	}
	if len(starter.names) != 2 || starter.names[0] != ExecutionName(d) || starter.names[1] != starter.names[0] {
		t.Fatalf("names %v", starter.names)
	}
	if err := f.StartEvent(ctx, []byte("not json")); err == nil {
		t.Fatal("garbage started something")
	}
	// forget's dead letters share the DLQ: an Object Deleted event, bare
	// or as a failed invocation record, starts no run and says so.
	deleted, _ := json.Marshal(events.EventBridgeEvent{DetailType: "Object Deleted", Source: "aws.s3", Detail: detail})
	delRecord, _ := json.Marshal(map[string]any{"requestPayload": json.RawMessage(deleted)})
	for _, body := range [][]byte{deleted, delRecord} {
		if err := f.StartEvent(ctx, body); !errors.Is(err, sqsq.ErrNotStartable) {
			t.Errorf("an Object Deleted dead letter: %v, want ErrNotStartable", err)
		}
	}
	if len(starter.names) != 2 {
		t.Errorf("an Object Deleted event started a run: %v", starter.names)
	}
}

// A model switch's messages have no workflow behind them: the embed
// function hands them to the pipeline's EmbedNext (here with no switch
// under way: dropped) and does not take a page message, which names no
// video, for poison; a message that is neither is still poison.
func TestEmbedTakesSwitchMessages(t *testing.T) {
	e := newEnv(t)
	resp, err := e.fns.Embed(context.Background(), sqsEvent(nil,
		`{"next_model":"clip","switch_page":"start","run":"r1"}`,
		`{"video_id":"v9","index":3,"next_model":"clip","run":"r1"}`,
		`{"index":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "extra-2" {
		t.Errorf("failures %+v, want only the message that is no chunk", resp.BatchItemFailures)
	}
}
