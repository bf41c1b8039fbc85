package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	minidyn "github.com/truora/minidyn/server"

	"github.com/scenedex/scenedex/harness/iam"
	"github.com/scenedex/scenedex/harness/template"
	"github.com/scenedex/scenedex/internal/cloud"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/osindex/osfake"
	"github.com/scenedex/scenedex/internal/s3local"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// world is the deployed stack on this machine: every AWS service the
// functions call is a local stand-in behind one IAM guard, and each
// function runs with the environment and the role the synthesized template
// gives it.
//
//   - S3: internal/s3local, the real local S3 endpoint (SigV4-checked).
//   - DynamoDB: minidyn's HTTP server (github.com/truora/minidyn/server),
//     the table created as the template declares it (keys, indexes).
//   - SQS, Step Functions, EventBridge: the stand-ins of standins_test.go.
//   - SageMaker runtime: internal/modelserver, which serves
//     /endpoints/<name>/invocations as SageMaker's runtime does.
//   - OpenSearch: internal/osindex/osfake's domain.
type world struct {
	t      *testing.T
	st     *template.Stack
	guard  *iam.Guard
	aws    *httptest.Server // every AWS API, routed by protocol
	search *httptest.Server // the OpenSearch domain
	s3     *s3local.Server
	sqs    *sqsStandIn
	sfn    *sfnStandIn
	events *eventsStandIn
	model  *modelserver.Server
	bucket string
	tools  string // the folder of ffmpeg and ffprobe (Lambda's layer: /opt/bin)
	creds  map[string]iam.Principal
}

func newWorld(t *testing.T) *world {
	st, err := template.Load()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, st: st, creds: map[string]iam.Principal{}}
	var principals []iam.Principal
	keys := map[string]string{}
	for _, name := range sortedNames(st) {
		p := iam.Principal{Name: name, AccessKey: "AKID" + strings.ToUpper(name), Secret: name + "-secret", Policy: st.Functions[name].Policy}
		principals = append(principals, p)
		keys[p.AccessKey] = p.Secret
		w.creds[name] = p
		if b := st.Functions[name].Env["BUCKET"]; b != "" {
			w.bucket = b
		}
	}
	w.guard = iam.NewGuard(principals...)
	if w.s3, err = s3local.New(s3local.Config{Dir: t.TempDir(), Bucket: w.bucket, Keys: keys}); err != nil {
		t.Fatal(err)
	}

	// DynamoDB: the template's table in minidyn.
	ddb := minidyn.NewServer()
	pks := w.createTables(ddb)

	urls, redrive := map[string]string{}, map[string]string{}
	for _, q := range st.Queues {
		urls[q.ARN] = q.URL
		if q.DeadLetterARN != "" {
			redrive[q.DeadLetterARN] = q.URL
		}
	}
	w.sqs, w.sfn, w.events = newSQS(t, urls, redrive), newSFN(t), newEvents(t)
	machine, err := st.Machine()
	if err != nil {
		t.Fatal(err)
	}
	// The endpoint's OCR form reads no words here: what words a frame shows
	// is no part of the contract (internal/ocr, with ONNX Runtime, is tested
	// on its own).
	w.model = modelserver.New(modelserver.Options{OCR: noWords{}, OCRModel: "ocr-stand-in"})

	routes := []struct {
		prefix string // of X-Amz-Target
		svc    iam.Service
		h      http.Handler
	}{
		{"DynamoDB_20120810.", iam.DynamoDB(pks), ddb},
		{"AmazonSQS.", iam.SQS(), w.sqs},
		{"AWSStepFunctions.", iam.StepFunctions(machine.ARN), w.sfn},
		{"AWSEvents.", iam.EventBridge(), w.events},
	}
	s3 := w.guard.Wrap(iam.S3(), w.s3)
	sagemaker := w.guard.Wrap(iam.SageMakerRuntime(), w.model)
	guarded := map[string]http.Handler{}
	for _, r := range routes {
		guarded[r.prefix] = w.guard.Wrap(r.svc, r.h)
	}
	w.aws = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			for prefix, h := range guarded {
				if strings.HasPrefix(target, prefix) {
					h.ServeHTTP(rw, r)
					return
				}
			}
			t.Errorf("a call to a service the harness does not stand in for: %s", target)
			http.Error(rw, "no stand-in for "+target, http.StatusNotImplemented)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/endpoints/") {
			sagemaker.ServeHTTP(rw, r)
			return
		}
		s3.ServeHTTP(rw, r)
	}))
	t.Cleanup(w.aws.Close)
	w.search = httptest.NewServer(w.guard.Wrap(iam.OpenSearch(w.domainARN()), &osfake.Domain{T: t, Indexes: map[string]*osfake.Index{}}))
	t.Cleanup(w.search.Close)

	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is missing: make test installs it")
	}
	w.tools = filepath.Dir(ffmpeg)
	return w
}

func sortedNames(st *template.Stack) []string {
	var names []string
	for n := range st.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// createTables creates the template's DynamoDB tables (key schema,
// attribute definitions, global secondary indexes) and returns each one's
// partition key attribute.
func (w *world) createTables(ddb *minidyn.Server) map[string]string {
	srv := httptest.NewServer(ddb)
	w.t.Cleanup(srv.Close)
	client := dynamodb.NewFromConfig(aws.Config{Region: template.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("admin", "admin", "")})
	pks := map[string]string{}
	res := w.st.Template["Resources"].(map[string]any)
	for id, r := range res {
		rm := r.(map[string]any)
		if rm["Type"] != "AWS::DynamoDB::Table" {
			continue
		}
		var props struct {
			KeySchema              []ddbtypes.KeySchemaElement
			AttributeDefinitions   []ddbtypes.AttributeDefinition
			GlobalSecondaryIndexes []ddbtypes.GlobalSecondaryIndex
		}
		b, _ := json.Marshal(rm["Properties"])
		if err := json.Unmarshal(b, &props); err != nil {
			w.t.Fatalf("table %s: %v", id, err)
		}
		name, err := w.st.Resolve(map[string]any{"Ref": id})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, k := range props.KeySchema {
			if k.KeyType == ddbtypes.KeyTypeHash {
				pks[name.(string)] = *k.AttributeName
			}
		}
		if _, err := client.CreateTable(context.Background(), &dynamodb.CreateTableInput{TableName: aws.String(name.(string)),
			KeySchema: props.KeySchema, AttributeDefinitions: props.AttributeDefinitions, GlobalSecondaryIndexes: props.GlobalSecondaryIndexes,
			BillingMode: ddbtypes.BillingModePayPerRequest}); err != nil {
			w.t.Fatalf("create table %s: %v", name, err)
		}
	}
	return pks
}

func (w *world) domainARN() string {
	for id, r := range w.st.Template["Resources"].(map[string]any) {
		if r.(map[string]any)["Type"] == "AWS::OpenSearchService::Domain" {
			arn, err := w.st.Resolve(map[string]any{"Fn::GetAtt": []any{id, "Arn"}})
			if err != nil {
				w.t.Fatal(err)
			}
			return arn.(string)
		}
	}
	w.t.Fatal("the template has no OpenSearch domain (the contract test plays the default searchEngine=domain)")
	return ""
}

// function is one deployed function: its handler as the Lambda runtime
// calls it (lambda.NewHandler over what its main starts).
type function struct {
	name    string
	handler lambda.Handler
	logs    *syncBuffer // what the function logged (JSON lines)
}

// syncBuffer is a log destination several goroutines may write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the logged lines that mention s.
func (b *syncBuffer) lines(s string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// overrides are the only variables the harness changes in a function's
// environment: where the stand-ins listen and the layer's tools. The AWS
// endpoint and the function's own credentials reach its SDK clients through
// aws.Config, as AWS_ENDPOINT_URL and the role's AWS_ACCESS_KEY_ID would.
func (w *world) overrides() map[string]string {
	return map[string]string{"OPENSEARCH_ENDPOINT": w.search.URL, "S3_PATH_STYLE": "true", "FFMPEG_DIR": w.tools}
}

// function builds a function exactly as its main does (cloud.Functions'
// required variables, cloud.BuildWith), from the template's environment.
func (w *world) function(name string) (*function, error) {
	tf := w.st.Functions[name]
	spec, ok := cloud.Functions[name]
	if tf == nil || !ok {
		return nil, fmt.Errorf("%s: in the template %v, in cloud.Functions %v", name, tf != nil, ok)
	}
	env := map[string]string{}
	for k, v := range tf.Env {
		env[k] = v
	}
	for k, v := range w.overrides() {
		if _, set := env[k]; set || k != "OPENSEARCH_ENDPOINT" {
			env[k] = v
		}
	}
	e, err := cloud.ReadEnvFrom(func(k string) string { return env[k] }, spec.Required...)
	if err != nil {
		return nil, fmt.Errorf("%s with the template's environment: %w", name, err)
	}
	p := w.creds[name]
	cfg := aws.Config{Region: template.Region, BaseEndpoint: aws.String(w.aws.URL),
		Credentials: credentials.NewStaticCredentialsProvider(p.AccessKey, p.Secret, ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.MaxBackoff = 10 * time.Millisecond })
		}}
	fns, err := cloud.BuildWith(cfg, e)
	if err != nil {
		return nil, fmt.Errorf("%s: build: %w", name, err)
	}
	// Its logs go to a buffer the failures quote (the function's code logs
	// why a message was not taken).
	logs := &syncBuffer{}
	fns.Log = slog.New(slog.NewJSONHandler(logs, nil))
	fns.P.Log = fns.Log
	return &function{name: name, handler: lambda.NewHandler(spec.Handler(fns)), logs: logs}, nil
}

// invoke calls the function with an event (marshalled as Lambda delivers
// it) and decodes its answer into out (if not nil).
func (f *function) invoke(ctx context.Context, event, out any) error {
	payload, err := json.Marshal(event)
	if err != nil {
		return err
	}
	res, err := f.handler.Invoke(ctx, payload)
	if err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			return fmt.Errorf("%s: answer %s: %w", f.name, res, err)
		}
	}
	return nil
}

// noWords is a TextReader that finds no line on any image.
type noWords struct{}

func (noWords) ReadText(_ context.Context, images [][]byte) ([][]scenedex.TextLine, error) {
	return make([][]scenedex.TextLine, len(images)), nil
}
