// Package burst is a test harness: it runs the synthesized stack — the state
// machine definition, the functions' real handlers with the environment the
// template gives each, the queues, event source mappings, rules and
// concurrency limits — on this machine, under a burst of videos dropped
// into the bucket at once, and counts how they end.
//
// What is real: the handlers (internal/lambdas through internal/cloud's
// builder, as each functions/<name>/main.go picks them), the AWS SDK clients
// they use, S3 (internal/s3local), DynamoDB (github.com/truora/minidyn's
// server), the model endpoint (internal/modelserver with the built-in
// descriptor), ffmpeg. What stands in, following the documented semantics
// (see harness/asl and harness/awslocal): Step Functions, Lambda's
// concurrency and throttling, SQS and its event source mappings,
// EventBridge, OpenSearch (internal/osindex/osfake).
//
// Time: everything runs on a virtual clock (harness/sim). A handler runs at
// one virtual instant; its invocation then holds its concurrency for the
// modelled Durations below, standing for what the same step takes on a
// production-sized video in Lambda.
package burst

import (
	"context"
	"encoding/json"

	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"maps"
	"os/exec"
	"path/filepath"
	"slices"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/truora/minidyn/server"

	"github.com/scenedex/scenedex/harness/asl"
	"github.com/scenedex/scenedex/harness/awslocal"
	"github.com/scenedex/scenedex/harness/sim"
	"github.com/scenedex/scenedex/harness/template"
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/dynamo"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/osindex/osfake"
	"github.com/scenedex/scenedex/internal/s3local"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Durations model how long each function's invocation lasts in Lambda
// (virtual time): a 60 s window of 1080p cut by stream copy with its
// thumbnails and frames, a batch of ten chunks embedded on the endpoint, and
// so on. They are what makes concurrency limits bite; the handlers' real
// run time on this machine is not counted.
var Durations = map[string]time.Duration{
	"start": 200 * time.Millisecond, "probe": 2 * time.Second, "chunk": 30 * time.Second,
	"await": 500 * time.Millisecond, "finalize": 500 * time.Millisecond, "fail": 500 * time.Millisecond,
	"embed": 10 * time.Second, "sweep": 5 * time.Second, "forget": time.Second,
}

// Config is one burst.
type Config struct {
	Stack        *template.Stack // the synthesized stack (harness/template)
	AccountLimit int             // the account's Lambda concurrency (1000; a new account may have 10)
	Slots        int             // handlers running for real at once
	Seed         int64
}

// Harness is the stack running locally.
type Harness struct {
	t      testing.TB
	Stack  *template.Stack
	Bucket string
	Table  string
	Sim    *sim.Sim
	Lambda *awslocal.Lambda
	SQS    *awslocal.SQS
	SFN    *asl.Engine
	Events *awslocal.EventBus
	Search *osfake.Domain
	S3     *s3local.Server
	AWS    aws.Config
	rules  []rule

	mu     sync.Mutex
	closed map[string]time.Duration // execution name -> virtual time it ended
	starts []string                 // Object Created events whose start function failed for good
}

// New builds the harness over the synthesized stack.
func New(t testing.TB, cfg Config) *Harness {
	t.Helper()
	st := cfg.Stack
	h := &Harness{t: t, Stack: st, Sim: sim.New(time.Now().UTC().Truncate(time.Second)), closed: map[string]time.Duration{},
		SQS: &awslocal.SQS{}, Events: &awslocal.EventBus{}}
	h.Lambda = &awslocal.Lambda{Sim: h.Sim, AccountLimit: cfg.AccountLimit, Slots: cfg.Slots}
	machine, err := st.Machine()
	if err != nil {
		t.Fatal(err)
	}
	var table *tableSpec
	if h.rules, table, err = readStack(st); err != nil {
		t.Fatal(err)
	}
	if probe := st.Functions["probe"]; probe != nil {
		h.Bucket = probe.Env["BUCKET"]
	}
	router := &awslocal.Router{SQS: h.SQS, Events: h.Events}
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)

	// S3: the local endpoint; its Object Created events go to EventBridge.
	// It keeps the real clock: the SDK clients sign requests and presigned
	// URLs with the real time, and the endpoint checks their skew and expiry.
	s3srv, err := s3local.New(s3local.Config{Dir: t.TempDir(), Bucket: h.Bucket,
		Log: slog.New(slog.DiscardHandler), OnCreated: h.objectCreated})
	if err != nil {
		t.Fatal(err)
	}
	h.S3, router.S3 = s3srv, s3srv
	router.DynamoDB = server.NewServer()
	router.Model = modelserver.New(modelserver.Options{OCR: noWords{}, OCRModel: "ppocr-v4"})
	h.Search = &osfake.Domain{T: asT(t), Indexes: map[string]*osfake.Index{}}
	search := httptest.NewServer(h.Search)
	t.Cleanup(search.Close)

	h.AWS = aws.Config{Region: template.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(s3srv.AccessKey, s3srv.Secret, "")}
	h.SFN = asl.NewEngine(h.Sim, struct {
		*awslocal.Lambda
		*awslocal.SQS
	}{h.Lambda, h.SQS}, cfg.Seed)
	h.SFN.OnClose = func(x *asl.Execution) {
		h.mu.Lock()
		h.closed[x.Name] = h.Sim.Elapsed()
		h.mu.Unlock()
	}
	router.SFN = h.SFN
	if err := h.SFN.Define(machine.ARN, machine.Definition); err != nil {
		t.Fatal(err)
	}
	if table != nil {
		h.Table = table.Name
		if err := createTable(context.Background(), dynamodb.NewFromConfig(h.AWS), table); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range st.Queues {
		lq := awslocal.NewQueue(h.Sim, q.Name, q.URL, q.ARN)
		lq.Visibility = time.Duration(q.VisibilityTimeoutSecs) * time.Second
		lq.Retention = time.Duration(q.RetentionSecs) * time.Second
		h.SQS.Add(lq)
	}
	for _, q := range st.Queues {
		if q.DeadLetterARN != "" {
			lq := h.SQS.Queue(q.URL)
			lq.DLQ, lq.MaxReceiveCount = h.SQS.Queue(q.DeadLetterARN), q.MaxReceiveCount
		}
	}
	// Deploy the functions the burst reaches: the state machine's, the ones
	// with event sources, the rules' targets.
	used := map[string]bool{}
	for name, f := range st.Functions {
		used[name] = strings.Contains(machine.Definition, f.ARN) || len(f.EventSources) > 0
	}
	for _, r := range h.rules {
		for _, n := range r.targets {
			used[n] = true
		}
		for _, arn := range r.queues {
			if h.SQS.Queue(arn) == nil {
				t.Fatalf("a rule targets %s: no such queue", arn)
			}
		}
	}
	reserved := 0
	for name, ok := range used {
		if !ok {
			continue
		}
		f := st.Functions[name]
		res := 0
		if f.ReservedConcurrency != nil {
			res = *f.ReservedConcurrency
		}
		reserved += res
		h.Lambda.Add(&awslocal.Function{Name: name, Arn: f.ARN, Handler: h.build(f, search.URL), Reserved: res,
			Duration: duration(name)})
	}
	// PutFunctionConcurrency: reservations must leave "at least 100
	// simultaneous executions unreserved" (Lambda API reference): a stack
	// that breaks it does not deploy, so it does not run here either.
	if reserved > 0 && cfg.AccountLimit-reserved < 100 {
		t.Fatalf("the template reserves %d concurrent executions; an account with %d leaves fewer than 100 unreserved: the deploy would fail", reserved, cfg.AccountLimit)
	}
	for name, ok := range used {
		if !ok {
			continue
		}
		for _, es := range st.Functions[name].EventSources {
			q := h.SQS.Queue(es.QueueARN)
			if q == nil {
				t.Fatalf("event source mapping of %s on %s: no such queue", name, es.QueueARN)
			}
			(&awslocal.Mapping{Lambda: h.Lambda, Queue: q, Function: name, BatchSize: es.BatchSize,
				Window: time.Duration(es.MaxBatchingWindowSecs) * time.Second, MaxConcurrency: es.MaximumConcurrency,
				ReportBatchItemFailures: slices.Contains(es.FunctionResponseTypes, "ReportBatchItemFailures"), Region: template.Region}).Start()
		}
	}
	for _, r := range h.rules {
		if r.rateMinutes > 0 {
			h.every(time.Duration(r.rateMinutes)*time.Minute, r.targets)
		}
	}
	return h
}

func duration(name string) func([]byte) time.Duration {
	d, ok := Durations[name]
	if !ok {
		d = time.Second
	}
	return func([]byte) time.Duration { return d }
}

// asT gives the OpenSearch fake a *testing.T to report unexpected requests
// on (a benchmark's B has none: those go unreported).
func asT(tb testing.TB) *testing.T {
	t, _ := tb.(*testing.T)
	return t
}

// build makes a function's handler as its main does (cloud.Main: the
// function's spec in cloud.Functions, ReadEnv with its required variables,
// Build) with the environment the template gives it, pointed at the
// harness's endpoints. What differs from Lambda, and why: S3_PATH_STYLE=true
// (the local endpoint has no virtual-host names), FFMPEG_DIR is the host's
// ffmpeg (Lambda mounts the layer at /opt/bin), OPENSEARCH_ENDPOINT is the
// stand-in's plain-HTTP URL.
func (h *Harness) build(f *template.Function, searchURL string) awslocal.Handler {
	h.t.Helper()
	spec, ok := cloud.Functions[f.Name]
	if !ok {
		h.t.Fatalf("function %s of the template has no spec in cloud.Functions", f.Name)
	}
	env := maps.Clone(f.Env)
	env["S3_PATH_STYLE"] = "true"
	if _, ok := env["OPENSEARCH_ENDPOINT"]; ok {
		env["OPENSEARCH_ENDPOINT"] = searchURL
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		h.t.Fatal("ffmpeg is needed: ", err)
	}
	env["FFMPEG_DIR"] = filepath.Dir(ffmpeg)
	e, err := cloud.ReadEnvFrom(func(k string) string { return env[k] }, spec.Required...)
	if err != nil {
		h.t.Fatalf("function %s with the template's environment: %v", f.Name, err)
	}
	fns, err := cloud.BuildWith(h.AWS, e)
	if err != nil {
		h.t.Fatalf("function %s: %v", f.Name, err)
	}
	return perInvoke{spec.Handler(fns)}
}

// perInvoke makes aws-lambda-go's handler afresh for each invocation: its
// Invoke returns the bytes of a pooled buffer that goes back to the pool
// (Reset) as Invoke returns — safe in Lambda, where one instance runs one
// invocation at a time, but invocations run concurrently here and shared a
// buffer (one run got another's Probe output). A new handler has a pool of
// its own.
type perInvoke struct{ fn any }

func (p perInvoke) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return lambda.NewHandler(p.fn).Invoke(ctx, payload)
}

// objectCreated is S3's "Object Created" event to EventBridge, matched
// against the rules (source aws.s3, detail-type, key prefix) and sent to
// their targets: a function as an asynchronous invocation, a queue as one
// message whose body is the event (EventBridge user guide, "Amazon SQS"
// targets: EventBridge sends the matched event as the message). The detail
// follows the S3 EventBridge event structure (S3 user guide, "EventBridge
// event message structure").
func (h *Harness) objectCreated(_ context.Context, oc scenedex.ObjectCreated) error {
	h.mu.Lock()
	seq := len(h.closed) + len(h.starts)
	h.mu.Unlock()
	detail, _ := json.Marshal(map[string]any{
		"version": "0", "bucket": map[string]any{"name": h.Bucket},
		"object":     map[string]any{"key": oc.Key, "size": oc.Size, "etag": oc.ETag, "sequencer": fmt.Sprintf("%016X", time.Now().UnixNano())},
		"request-id": fmt.Sprint(seq), "requester": template.Account, "reason": "PutObject",
	})
	ev, _ := json.Marshal(events.EventBridgeEvent{Version: "0", ID: fmt.Sprintf("ev-%d", time.Now().UnixNano()), DetailType: "Object Created",
		Source: "aws.s3", AccountID: template.Account, Time: h.Sim.Now(), Region: template.Region,
		Resources: []string{"arn:aws:s3:::" + h.Bucket}, Detail: detail})
	for _, r := range h.rules {
		if r.detailType != "Object Created" || !strings.HasPrefix(oc.Key, r.prefix) {
			continue
		}
		for _, arn := range r.queues {
			h.Sim.At(0, func() { h.SQS.Queue(arn).Send(string(ev)) })
		}
		for _, target := range r.targets {
			h.Sim.At(0, func() {
				h.Lambda.InvokeAsync(target, ev, func(err *asl.Error) {
					if err != nil {
						h.mu.Lock()
						h.starts = append(h.starts, oc.Key+": "+err.Name+": "+err.Cause)
						h.mu.Unlock()
					}
				})
			})
		}
	}
	return nil
}

// every invokes the targets of a schedule rule.
func (h *Harness) every(d time.Duration, targets []string) {
	var tick func()
	tick = func() {
		for _, t := range targets {
			h.Lambda.InvokeAsync(t, []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`), func(*asl.Error) {})
		}
		h.Sim.At(d, tick)
	}
	h.Sim.At(d, tick)
}

// Closed is the number of executions that ended, and the latest end.
func (h *Harness) Closed() (int, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var last time.Duration
	for _, t := range h.closed {
		last = max(last, t)
	}
	return len(h.closed), last
}

// StartFailures are the Object Created events whose start function failed
// for good.
func (h *Harness) StartFailures() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.starts...)
}

// DeadLetters counts the messages each dead-letter queue holds (the
// queues some queue's redrive policy names), by queue name.
func (h *Harness) DeadLetters() map[string]int {
	out := map[string]int{}
	for _, q := range h.Stack.Queues {
		if q.DeadLetterARN == "" {
			continue
		}
		dlq := h.SQS.Queue(q.DeadLetterARN)
		visible, inFlight, _ := dlq.Counts()
		out[dlq.Name] = visible + inFlight
	}
	return out
}

// Catalog is the table's catalog, as the functions use it.
func (h *Harness) Catalog() *dynamo.Catalog {
	return dynamo.New(dynamodb.NewFromConfig(h.AWS), h.Table)
}

// Duplicates counts the index's documents beyond one per chunk (video id,
// chunk index) across every index of the domain.
func (h *Harness) Duplicates() (docs, dups int) {
	seen := map[string]bool{}
	for _, ix := range h.Search.Indexes {
		for _, src := range ix.Docs {
			docs++
			key := fmt.Sprint(src["video_id"], "/", src["chunk"], "/", src["chunk_id"])
			if _, ok := src["chunk"]; !ok {
				key = fmt.Sprint(src["video_id"], "/", src["start"])
			}
			if seen[key] {
				dups++
			}
			seen[key] = true
		}
	}
	return docs, dups
}

// createTable makes the template's table in minidyn: its key schema,
// attribute definitions and global secondary indexes, as CreateTable takes
// them (the template's properties have CreateTable's shape).
func createTable(ctx context.Context, c *dynamodb.Client, spec *tableSpec) error {
	props := map[string]any{"TableName": spec.Name, "BillingMode": "PAY_PER_REQUEST"}
	for _, k := range []string{"KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes"} {
		if v, ok := spec.props[k]; ok {
			props[k] = v
		}
	}
	b, _ := json.Marshal(props)
	var in dynamodb.CreateTableInput
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("table %s: %w", spec.Name, err)
	}
	if _, err := c.CreateTable(ctx, &in); err != nil {
		return fmt.Errorf("create table %s: %w", spec.Name, err)
	}
	return nil
}

var _ http.Handler = (*awslocal.Router)(nil)

// noWords answers the endpoint's OCR form (the template turns OCR on) for
// frames without words on screen: the real PP-OCRv4 costs CPU seconds per
// frame, and what the burst measures is the orchestration, not reading.
type noWords struct{}

func (noWords) ReadText(_ context.Context, images [][]byte) ([][]scenedex.TextLine, error) {
	return make([][]scenedex.TextLine, len(images)), nil
}
