// Package functions holds one folder per Lambda function (main.go: wiring
// only) and this test, which runs the real artifacts as Lambda runs them.
package functions

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/awsfake"
	"github.com/scenedex/scenedex/internal/lambdas"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/s3local"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// TestProbeAndChunkAsLambdaRunsThem runs what `make build` and `make layer`
// ship — the arm64 bootstraps of probe and chunk, and the arm64 ffmpeg layer —
// under qemu-aarch64-static, against a local implementation of the Lambda
// Runtime API (/2018-06-01/runtime/invocation/next, /response, /error), with
// the environment the stack gives them. S3 is the local endpoint, addressed by
// a host name (localhost), so every presigned URL names a host as in AWS;
// DynamoDB and SQS are stand-ins that answer as those services document (no
// AWS account here). A real video goes through probe and then chunk: chunk
// files, frames and queue messages must appear.
//
// What stands in for what Lambda gives: the layer's files sit under opt/ as
// Lambda mounts them at /opt; no kernel here runs arm64 ELF (no binfmt_misc),
// so FFMPEG_DIR names two shell shims that run the layer's unmodified binaries
// under qemu, as binfmt would.
func TestProbeAndChunkAsLambdaRunsThem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and emulates arm64 artifacts")
	}
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Fatal("qemu-aarch64-static is missing: make test installs it (scripts/ensure-tools.sh --test)")
	}
	work := t.TempDir()
	dist := filepath.Join(work, "dist")
	build := exec.Command("../scripts/build-functions.sh")
	build.Env = append(os.Environ(), "OUT="+dist, "FUNCTIONS=probe chunk")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	opt := filepath.Join(work, "opt") // what Lambda mounts at /opt
	if out, err := exec.Command("../layers/ffmpeg/build.sh", "arm64", opt).CombinedOutput(); err != nil {
		t.Fatalf("make layer: %v\n%s", err, out)
	}
	shims := filepath.Join(work, "shims")
	os.MkdirAll(shims, 0o755)
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		shim := fmt.Sprintf("#!/bin/sh\nexec %s -L /usr/aarch64-linux-gnu %s \"$@\"\n", qemu, filepath.Join(opt, "bin", tool))
		if err := os.WriteFile(filepath.Join(shims, tool), []byte(shim), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// S3: the local endpoint, by host name, with a real video in uploads/.
	data := filepath.Join(work, "s3")
	s3srv, err := s3local.New(s3local.Config{Dir: data, Bucket: "media"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s3srv)
	defer hs.Close()
	endpoint := strings.Replace(hs.URL, "127.0.0.1", "localhost", 1)
	store := s3blob.New(s3blob.LocalClient(endpoint, s3srv.AccessKey, s3srv.Secret), "media")
	video := testvideo.Make(t, work, "clip.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: 4, GOP: 25, Audio: true})
	key := "uploads/ads/holiday clip.mp4"
	f, _ := os.Open(video)
	if err := store.Put(context.Background(), key, f, "video/mp4"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, err := store.Head(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}

	ddb := newTable(t)
	sqs, sent := newQueue(t)
	states := newStates(t)
	tmp := filepath.Join(work, "tmp")
	os.MkdirAll(tmp, 0o755)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp, "HOME=" + tmp,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + s3srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3srv.Secret,
		"AWS_ENDPOINT_URL_S3=" + endpoint, "AWS_ENDPOINT_URL_DYNAMODB=" + ddb.URL, "AWS_ENDPOINT_URL_SQS=" + sqs.URL,
		"AWS_ENDPOINT_URL_SFN=" + states.URL,
		"S3_PATH_STYLE=true", "FFMPEG_DIR=" + shims,
		// As the stack sets them (infra/stack.go):
		"BUCKET=media", "TABLE=catalog", "CHUNK_QUEUE_URL=" + sqs.URL + "/123456789012/chunks",
		"WINDOW_MAX_RECEIVES=5", "WINDOW_DLQ_ARN=arn:aws:sqs:us-east-1:123456789012:scenedex-WindowsDLQ",
	}
	// Each function has its own runtime API, as in Lambda.
	start := func(name string) *runtimeAPI {
		rt := newRuntimeAPI(t)
		cmd := exec.Command(qemu, filepath.Join(dist, name, "bootstrap"))
		cmd.Env = append(env, "AWS_LAMBDA_FUNCTION_NAME=scenedex-"+name, "AWS_LAMBDA_RUNTIME_API="+rt.addr)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s logs:\n%s", name, logs.String())
			}
		})
		return rt
	}

	probe := start("probe")
	detail, _ := json.Marshal(map[string]any{"bucket": map[string]any{"name": "media"},
		"object": map[string]any{"key": "uploads/ads/holiday+clip.mp4", "size": info.Size, "etag": info.ETag}, "reason": "PutObject"})
	ev, _ := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "e1", DetailType: "Object Created", Source: "aws.s3",
		Region: "us-east-1", Detail: detail})
	var probed lambdas.ProbeOutput
	probe.invoke(t, "probe", ev, 3*time.Minute, &probed)
	if probed.Skip || probed.VideoID == "" || len(probed.Windows) != 1 || probed.Plan.Duration < 11.9 || !probed.Plan.CopyVideo {
		t.Fatalf("probe output %+v", probed)
	}
	if v := ddb.video(t, probed.VideoID); v["status"] != "PROCESSING" {
		t.Fatalf("catalog record %v", v)
	}

	// chunk reads the window queue: the window as the workflow's Map item
	// sends it, delivered by Lambda's SQS event source; it answers the task
	// token through Step Functions.
	chunk := start("chunk")
	body, _ := json.Marshal(lambdas.ChunkInput{Video: probed.Video, Plan: probed.Plan, Window: probed.Windows[0], TaskToken: "tok-window-0"})
	in, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "w-0", Body: string(body), EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:scenedex-Windows", AWSRegion: "us-east-1",
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}})
	var resp events.SQSEventResponse
	chunk.invoke(t, "chunk", in, 5*time.Minute, &resp)
	answers := states.Calls("SendTaskSuccess")
	if len(resp.BatchItemFailures) != 0 || len(answers) != 1 || awsfake.String(answers[0].Body, "taskToken") != "tok-window-0" {
		t.Fatalf("chunk response %+v, task answers %+v", resp, answers)
	}
	var chunked lambdas.ChunkOutput
	json.Unmarshal([]byte(awsfake.String(answers[0].Body, "output")), &chunked)
	msgs := sent()
	if chunked.Chunks < 2 || len(msgs) != chunked.Chunks {
		t.Fatalf("chunk output %+v, %d queue messages", chunked, len(msgs))
	}
	for _, c := range msgs {
		if c.VideoID != probed.VideoID || len(c.FrameKeys) == 0 || c.End <= c.Start {
			t.Errorf("message %+v", c)
		}
		for _, k := range append([]string{c.ClipKey, c.ThumbKey}, c.FrameKeys...) {
			if info, err := store.Head(context.Background(), k); err != nil || info.Size == 0 {
				t.Errorf("%s: %+v %v", k, info, err)
			}
		}
	}
	// A frame is a real JPEG of the video.
	rc, err := store.Get(context.Background(), msgs[0].FrameKeys[0])
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 3)
	io.ReadFull(rc, head)
	rc.Close()
	if !bytes.Equal(head, []byte{0xFF, 0xD8, 0xFF}) {
		t.Errorf("frame is not a JPEG: % x", head)
	}

	// A file that is not a video ends as the user's fault, reported by the
	// /error route with the reason; the function keeps serving.
	if err := store.Put(context.Background(), "uploads/ads/notes.mp4", bytes.NewReader(bytes.Repeat([]byte("text\n"), 200)), "video/mp4"); err != nil {
		t.Fatal(err)
	}
	bad, _ := store.Head(context.Background(), "uploads/ads/notes.mp4")
	detail, _ = json.Marshal(map[string]any{"bucket": map[string]any{"name": "media"},
		"object": map[string]any{"key": "uploads/ads/notes.mp4", "size": bad.Size, "etag": bad.ETag}})
	ev, _ = json.Marshal(events.EventBridgeEvent{DetailType: "Object Created", Source: "aws.s3", Detail: detail})
	errBody := probe.invokeError(t, ev, 3*time.Minute)
	if !strings.Contains(errBody, "Permanent") || !strings.Contains(errBody, "Invalid data found") {
		t.Fatalf("error of a non-video: %s", errBody)
	}

	// AV1: the layer's arm64 ffmpeg has no AV1 decoder, so probe refuses the
	// video up front with what to do, instead of failing it mid-chunking.
	av1 := filepath.Join(work, "av1.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1",
		"-c:v", "libaom-av1", "-cpu-used", "8", "-b:v", "100k", av1).CombinedOutput(); err != nil {
		t.Fatalf("make an AV1 video: %v %s", err, out)
	}
	f, _ = os.Open(av1)
	err = store.Put(context.Background(), "uploads/ads/av1.mp4", f, "video/mp4")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := store.Head(context.Background(), "uploads/ads/av1.mp4")
	detail, _ = json.Marshal(map[string]any{"bucket": map[string]any{"name": "media"},
		"object": map[string]any{"key": "uploads/ads/av1.mp4", "size": a.Size, "etag": a.ETag}})
	ev, _ = json.Marshal(events.EventBridgeEvent{DetailType: "Object Created", Source: "aws.s3", Detail: detail})
	if errBody := probe.invokeError(t, ev, 3*time.Minute); !strings.Contains(errBody, "Permanent") || !strings.Contains(errBody, "AV1 video cannot be decoded") {
		t.Fatalf("error of an AV1 video: %s", errBody)
	}
}

// ---- a local Lambda Runtime API ----

type runtimeAPI struct {
	addr    string
	next    chan invocation
	mu      sync.Mutex
	results map[string]chan result
	n       int
}

type invocation struct {
	id   string
	body []byte
}

type result struct {
	body  []byte
	error bool
}

func newRuntimeAPI(t *testing.T) *runtimeAPI {
	rt := &runtimeAPI{next: make(chan invocation, 4), results: map[string]chan result{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case inv := <-rt.next:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(15*time.Minute).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:scenedex")
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
			w.Write(inv.body)
		case <-r.Context().Done():
		}
	})
	done := func(isErr bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			rt.mu.Lock()
			ch := rt.results[r.PathValue("id")]
			rt.mu.Unlock()
			if ch == nil {
				http.Error(w, "unknown request id", http.StatusBadRequest)
				return
			}
			ch <- result{body: body, error: isErr}
			w.WriteHeader(http.StatusAccepted)
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", done(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", done(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		t.Errorf("init error: %s", body)
		w.WriteHeader(http.StatusAccepted)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rt.addr = strings.TrimPrefix(srv.URL, "http://")
	return rt
}

func (rt *runtimeAPI) send(t *testing.T, event []byte, timeout time.Duration) result {
	t.Helper()
	rt.mu.Lock()
	rt.n++
	id := fmt.Sprintf("req-%d", rt.n)
	ch := make(chan result, 1)
	rt.results[id] = ch
	rt.mu.Unlock()
	rt.next <- invocation{id: id, body: event}
	select {
	case res := <-ch:
		return res
	case <-time.After(timeout):
		t.Fatalf("invocation %s got no answer in %v", id, timeout)
		return result{}
	}
}

// invoke sends an event and decodes the function's response into out.
func (rt *runtimeAPI) invoke(t *testing.T, name string, event []byte, timeout time.Duration, out any) {
	t.Helper()
	res := rt.send(t, event, timeout)
	if res.error {
		t.Fatalf("%s failed: %s", name, res.body)
	}
	if err := json.Unmarshal(res.body, out); err != nil {
		t.Fatalf("%s response %s: %v", name, res.body, err)
	}
}

// invokeError sends an event that must fail and returns the error body.
func (rt *runtimeAPI) invokeError(t *testing.T, event []byte, timeout time.Duration) string {
	t.Helper()
	res := rt.send(t, event, timeout)
	if !res.error {
		t.Fatalf("succeeded: %s", res.body)
	}
	return string(res.body)
}

// ---- DynamoDB and SQS stand-ins (no AWS account here) ----

type table struct {
	*awsfake.Server
	mu    sync.Mutex
	items map[string]map[string]any
}

// newTable plays one DynamoDB table: GetItem, and PutItem with the two
// conditions the catalog uses (attribute_not_exists(pk), version = :v).
func newTable(t *testing.T) *table {
	tb := &table{Server: awsfake.New(t), items: map[string]map[string]any{}}
	id := func(item any) string {
		return awsfake.String(item, "pk", "S") + "|" + awsfake.String(item, "sk", "S")
	}
	tb.On("GetItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		if item, ok := tb.items[id(b["Key"])]; ok {
			return awsfake.Reply{Body: map[string]any{"Item": item}}
		}
		return awsfake.Reply{Body: map[string]any{}}
	})
	tb.On("PutItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		item, _ := b["Item"].(map[string]any)
		old, exists := tb.items[id(item)]
		fail := awsfake.Reply{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}
		switch cond := awsfake.String(b, "ConditionExpression"); cond {
		case "":
		case "attribute_not_exists(pk)":
			if exists {
				return fail
			}
		case "version = :v":
			if !exists || awsfake.String(old, "version", "N") != awsfake.String(b, "ExpressionAttributeValues", ":v", "N") {
				return fail
			}
		default:
			t.Errorf("PutItem condition %q not played by the stand-in", cond)
		}
		tb.items[id(item)] = item
		return awsfake.Reply{Body: map[string]any{}}
	})
	return tb
}

func (tb *table) video(t *testing.T, videoID string) map[string]any {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := map[string]any{}
	for k, v := range tb.items[videoID+"|video"] {
		if s, ok := v.(map[string]any)["S"]; ok {
			out[k] = s
		}
	}
	return out
}

// newStates plays Step Functions' SendTaskSuccess and SendTaskFailure (both
// answer {} when the token is waited on: Step Functions API Reference).
func newStates(t *testing.T) *awsfake.Server {
	fake := awsfake.New(t)
	for _, op := range []string{"SendTaskSuccess", "SendTaskFailure"} {
		fake.On(op, func(t *testing.T, b map[string]any) awsfake.Reply {
			if awsfake.String(b, "taskToken") == "" {
				t.Errorf("%s without a task token: %v", op, b)
			}
			return awsfake.Reply{Body: map[string]any{}}
		})
	}
	return fake
}

// newQueue plays SQS's SendMessageBatch and returns the chunks received.
func newQueue(t *testing.T) (*awsfake.Server, func() []scenedex.Chunk) {
	fake := awsfake.New(t)
	var mu sync.Mutex
	var got []scenedex.Chunk
	fake.On("SendMessageBatch", func(t *testing.T, b map[string]any) awsfake.Reply {
		if !strings.HasSuffix(awsfake.String(b, "QueueUrl"), "/123456789012/chunks") {
			t.Errorf("queue url %v", b["QueueUrl"])
		}
		var ok []map[string]any
		for _, e := range b["Entries"].([]any) {
			body := awsfake.String(e, "MessageBody")
			var c scenedex.Chunk
			if err := json.Unmarshal([]byte(body), &c); err != nil {
				t.Errorf("message is not a chunk: %v", err)
			}
			mu.Lock()
			got = append(got, c)
			mu.Unlock()
			sum := md5.Sum([]byte(body))
			ok = append(ok, map[string]any{"Id": awsfake.String(e, "Id"), "MessageId": "m-" + c.ID(), "MD5OfMessageBody": hex.EncodeToString(sum[:])})
		}
		return awsfake.Reply{Body: map[string]any{"Successful": ok, "Failed": []any{}}}
	})
	return fake, func() []scenedex.Chunk {
		mu.Lock()
		defer mu.Unlock()
		return append([]scenedex.Chunk(nil), got...)
	}
}
