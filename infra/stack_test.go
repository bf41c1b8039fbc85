package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

var functionNames = []string{"upload", "api", "start", "probe", "chunk", "await", "embed", "finalize", "fail", "sweep", "forget"}

// deployContext is the context `cdk deploy` gives the app: cdk.json's
// "context", which the CLI reads from the repository root.
func deployContext(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cdkJSON struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &cdkJSON); err != nil || cdkJSON.Context == nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return cdkJSON.Context
}

// synth builds the stack as `cdk deploy` does — cdk.json's context, then the
// -c values of the case (extra), read by the app's own configFrom — with
// cdk-nag's AwsSolutions checks, over stand-in function bundles and layer
// (the template does not depend on their bytes), and returns the template as
// JSON plus nag's errors.
func synth(t *testing.T, extra map[string]any) (map[string]any, []string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range functionNames {
		os.MkdirAll(filepath.Join(dir, "dist", name), 0o755)
		os.WriteFile(filepath.Join(dir, "dist", name, "bootstrap"), []byte("stand-in for "+name), 0o755)
	}
	os.MkdirAll(filepath.Join(dir, "layer", "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "layer", "bin", "ffmpeg"), []byte("stand-in"), 0o755)
	ctx := deployContext(t)
	ctx["functionsDir"], ctx["layerDir"] = filepath.Join(dir, "dist"), filepath.Join(dir, "layer")
	for k, v := range extra {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "cdk.out")), Context: &ctx})
	stack := NewStack(app, "scenedex-test", &awscdk.StackProps{Env: &awscdk.Environment{
		Account: jsii.String("123456789012"), Region: jsii.String("us-east-1")}}, configFrom(app))
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	tpl := assertions.Template_FromStack(stack, nil)
	var nagErrors []string
	for _, m := range *assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		nagErrors = append(nagErrors, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	b, _ := json.Marshal(tpl.ToJSON())
	var out map[string]any
	json.Unmarshal(b, &out)
	return out, nagErrors
}

// resources returns the template's resources of a type, by logical id.
func resources(tpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tpl["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			props, _ := rm["Properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
			}
			out[id] = props
		}
	}
	return out
}

// one returns the single resource of typ whose logical id is name (a regular
// expression) plus CDK's 8-hex-digit suffix, if any.
func one(t *testing.T, tpl map[string]any, typ, name string) map[string]any {
	t.Helper()
	re := regexp.MustCompile("^" + name + "([0-9A-F]{8})?$")
	var found []map[string]any
	for id, p := range resources(tpl, typ) {
		if re.MatchString(id) {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s resources named %s, want 1", len(found), typ, name)
	}
	return found[0]
}

func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// functionPolicies maps each function to the actions→resources its role's
// policies allow.
func functionPolicies(tpl map[string]any) map[string]map[string][]string {
	roleOf := map[string]string{}
	for id, p := range resources(tpl, "AWS::Lambda::Function") {
		for _, name := range functionNames {
			if strings.HasPrefix(id, title(name)) && !strings.Contains(id, "Logs") {
				roleOf[fmt.Sprint(get(p, "Role", "Fn::GetAtt", 0))] = name
			}
		}
	}
	out := map[string]map[string][]string{}
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		roles, _ := p["Roles"].([]any)
		for _, r := range roles {
			name, ok := roleOf[fmt.Sprint(get(r, "Ref"))]
			if !ok {
				continue
			}
			if out[name] == nil {
				out[name] = map[string][]string{}
			}
			for _, st := range get(p, "PolicyDocument", "Statement").([]any) {
				actions := get(st, "Action")
				list, ok := actions.([]any)
				if !ok {
					list = []any{actions}
				}
				for _, a := range list {
					grant := js(get(st, "Resource"))
					if c := get(st, "Condition"); c != nil {
						grant += " if " + js(c) // a condition narrows the grant: the tests can see it
					}
					out[name][fmt.Sprint(a)] = append(out[name][fmt.Sprint(a)], grant)
				}
			}
		}
	}
	return out
}

func TestDefaultStack(t *testing.T) {
	tpl, nagErrors := synth(t, nil)
	if len(nagErrors) > 0 {
		t.Fatalf("cdk-nag AwsSolutions errors without a suppression:\n%s", strings.Join(nagErrors, "\n"))
	}

	t.Run("bucket", func(t *testing.T) {
		b := one(t, tpl, "AWS::S3::Bucket", "Media")
		if js(get(b, "PublicAccessBlockConfiguration")) != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
			t.Errorf("public access: %s", js(b["PublicAccessBlockConfiguration"]))
		}
		if get(b, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm") != "AES256" {
			t.Errorf("encryption: %s", js(b["BucketEncryption"]))
		}
		n := one(t, tpl, "Custom::S3BucketNotifications", "MediaNotifications")
		if get(n, "NotificationConfiguration", "EventBridgeConfiguration") == nil {
			t.Errorf("EventBridge notifications off: %s", js(n))
		}
		if get(b, "LoggingConfiguration", "LogFilePrefix") != "media/" {
			t.Errorf("access logs: %s", js(b["LoggingConfiguration"]))
		}
		if get(b, "LifecycleConfiguration", "Rules", 0, "AbortIncompleteMultipartUpload", "DaysAfterInitiation") != 1.0 {
			t.Errorf("lifecycle: %s", js(b["LifecycleConfiguration"]))
		}
		// Browsers may PUT and read only from the web app's origin.
		cors := get(b, "CorsConfiguration", "CorsRules", 0)
		if !strings.Contains(js(cors), `"PUT"`) || !strings.Contains(js(cors), `"ETag"`) || strings.Contains(js(cors), `"*"`) ||
			!strings.Contains(js(get(cors, "AllowedOrigins")), "SiteDistribution") || len(get(cors, "AllowedOrigins").([]any)) != 1 {
			t.Errorf("cors: %s", js(cors))
		}
		ssl := false
		for _, p := range resources(tpl, "AWS::S3::BucketPolicy") {
			if strings.Contains(js(p), `"aws:SecureTransport":"false"`) && strings.Contains(js(p), `"Effect":"Deny"`) {
				ssl = true
			}
		}
		if !ssl {
			t.Error("no bucket policy denies requests without TLS")
		}
	})

	t.Run("ocr", func(t *testing.T) {
		// The project's model image reads words; embed asks it, and api
		// knows text search can answer from them.
		for _, fn := range []string{"Embed", "Api"} {
			if env := functionEnv(t, tpl, fn); env["OCR"] != "on" || env["EMBEDDING_ENDPOINT"] == nil || env["OPENSEARCH_REPLICAS"] != "0" {
				t.Errorf("%s env %s", fn, js(env))
			}
		}
	})

	t.Run("deleted rule", func(t *testing.T) {
		r := one(t, tpl, "AWS::Events::Rule", "ObjectDeleted")
		p := js(r["EventPattern"])
		for _, want := range []string{`"source":["aws.s3"]`, `"detail-type":["Object Deleted"]`, `"key":[{"prefix":"uploads/"}]`, `"name":[{"Ref":"Media`} {
			if !strings.Contains(p, want) {
				t.Errorf("pattern %s lacks %s", p, want)
			}
		}
		target := get(r, "Targets", 0)
		if !strings.Contains(js(get(target, "Arn")), "Forget") || get(target, "DeadLetterConfig") == nil {
			t.Errorf("target %s", js(target))
		}
		var byKey bool
		for _, g := range get(one(t, tpl, "AWS::DynamoDB::Table", "Catalog"), "GlobalSecondaryIndexes").([]any) {
			if get(g, "IndexName") == "by-key" && get(g, "KeySchema", 0, "AttributeName") == "key" {
				byKey = true
			}
		}
		if !byKey {
			t.Error("no by-key index on the catalog")
		}
	})

	t.Run("rule", func(t *testing.T) {
		r := one(t, tpl, "AWS::Events::Rule", "ObjectCreated")
		p := js(r["EventPattern"])
		for _, want := range []string{`"source":["aws.s3"]`, `"detail-type":["Object Created"]`, `"key":[{"prefix":"uploads/"}]`} {
			if !strings.Contains(p, want) {
				t.Errorf("pattern %s lacks %s", p, want)
			}
		}
		target := get(r, "Targets", 0)
		if !strings.Contains(js(get(target, "Arn")), `"Events`) || get(target, "DeadLetterConfig") == nil || get(target, "RetryPolicy", "MaximumRetryAttempts") != 8.0 {
			t.Errorf("target %s", js(target))
		}
	})

	t.Run("state machine", func(t *testing.T) {
		sm := one(t, tpl, "AWS::StepFunctions::StateMachine", "Ingest")
		if get(sm, "LoggingConfiguration", "Level") != "ALL" || get(sm, "LoggingConfiguration", "IncludeExecutionData") != false ||
			get(sm, "TracingConfiguration", "Enabled") != true {
			t.Errorf("logging/tracing: %s %s", js(sm["LoggingConfiguration"]), js(sm["TracingConfiguration"]))
		}
		subs := get(sm, "DefinitionSubstitutions").(map[string]any)
		for _, name := range workflowFunctions {
			if !strings.Contains(js(subs[name+"Arn"]), title(lowerASCII(name))) {
				t.Errorf("substitution %sArn = %s", name, js(subs[name+"Arn"]))
			}
		}
		if !strings.Contains(js(subs["WindowQueueUrl"]), `"Ref":"Windows`) || strings.Contains(js(subs["WindowQueueUrl"]), "DLQ") {
			t.Errorf("substitution WindowQueueUrl = %s", js(subs["WindowQueueUrl"]))
		}
		if subs["ChunkArn"] != nil {
			t.Error("the workflow still invokes chunk directly")
		}
		// The definition as deployed (the template's, not a fresh render).
		var def map[string]any
		if err := json.Unmarshal([]byte(fmt.Sprint(sm["DefinitionString"])), &def); err != nil {
			t.Fatalf("definition: %v", err)
		}
		states := def["States"].(map[string]any)
		chunkQueue := one(t, tpl, "AWS::SQS::Queue", "Chunks")
		windowQueue := one(t, tpl, "AWS::SQS::Queue", "Windows")
		m := states["ChunkWindows"]
		if get(m, "MaxConcurrency") != 4.0 || get(m, "ItemsPath") != "$.windows" || get(m, "ResultSelector", "counts.$") != "$[*].chunks" {
			t.Errorf("map: %s", js(m))
		}
		// Each window waits on the window queue for its token, up to
		// windowWaitHours (72), less than the queue keeps its message.
		item := get(m, "ItemProcessor", "States", "Chunk")
		body := get(item, "Parameters", "MessageBody")
		if get(item, "Resource") != "arn:aws:states:::sqs:sendMessage.waitForTaskToken" || get(item, "Parameters", "QueueUrl") != "${WindowQueueUrl}" ||
			get(body, "task_token.$") != "$$.Task.Token" || get(body, "video.$") != "$.video" || get(body, "plan.$") != "$.plan" ||
			get(body, "window.$") != "$.window" || get(item, "HeartbeatSeconds") != nil || get(item, "TimeoutSeconds") != 72*3600.0 ||
			get(item, "TimeoutSeconds").(float64) >= get(windowQueue, "MessageRetentionPeriod").(float64) {
			t.Errorf("window item: %s", js(item))
		}
		if r := js(get(item, "Retry")); !strings.Contains(r, "SQS.AmazonSQSException") || strings.Contains(r, "States.") {
			t.Errorf("window item retries %s", r)
		}
		// A window's wait running out says so in the video's reason.
		timedOut := get(m, "ItemProcessor", "States", fmt.Sprint(get(item, "Catch", 0, "Next")))
		if get(item, "Catch", 0, "ErrorEquals", 0) != "States.Timeout" || get(timedOut, "Type") != "Fail" ||
			!strings.Contains(fmt.Sprint(get(timedOut, "Cause")), "waited over 72 hours to be cut") {
			t.Errorf("window timeout: %s then %s", js(get(item, "Catch")), js(timedOut))
		}
		// The embeddings wait: no heartbeat a backlog can break, a bound
		// (embedWaitHours, 72) under the chunk queue's retention.
		wait := states["WaitForEmbeddings"]
		if get(wait, "Resource") != "arn:aws:states:::lambda:invoke.waitForTaskToken" || get(wait, "TimeoutSeconds") != 72*3600.0 ||
			get(wait, "TimeoutSeconds").(float64) >= get(chunkQueue, "MessageRetentionPeriod").(float64) ||
			get(wait, "HeartbeatSeconds") != nil || get(wait, "Parameters", "Payload", "task_token.$") != "$$.Task.Token" {
			t.Errorf("wait: %s (chunk queue retention %v)", js(wait), get(chunkQueue, "MessageRetentionPeriod"))
		}
		for name, st := range states {
			if get(st, "Type") != "Task" {
				continue
			}
			if !strings.Contains(js(get(st, "Retry")), "Lambda.ServiceException") {
				t.Errorf("%s does not retry Lambda service errors", name)
			}
			if strings.HasPrefix(name, "Mark") {
				continue
			}
			if get(st, "Catch", 0, "ErrorEquals", 0) != "Permanent" || get(st, "Catch", 0, "Next") != "MarkRejected" ||
				get(st, "Catch", 1, "Next") != "MarkFailed" {
				t.Errorf("%s does not catch users' bad files into MarkRejected and the rest into MarkFailed: %s", name, js(get(st, "Catch")))
			}
			// Throttling is waited out for a day, whatever the jitter draws.
			throttle := get(st, "Retry", 0)
			if low := throttleWaitLowHours(t, throttle); get(throttle, "ErrorEquals", 0) != "Lambda.TooManyRequestsException" ||
				get(throttle, "MaxDelaySeconds") != 300.0 || low < 24 || !strings.Contains(js(get(st, "Retry", 1)), "Lambda.ClientExecutionTimeoutException") {
				t.Errorf("%s retries (throttling waited at least %.1f h): %s", name, low, js(get(st, "Retry")))
			}
		}
		if get(states, "ChunkWindows", "Catch", 1, "Next") != "MarkFailed" {
			t.Error("the Map has no Catch")
		}
		if get(states, "MarkRejected", "Next") != "Rejected" || get(states, "Rejected", "Type") != "Succeed" ||
			get(states, "MarkFailed", "Next") != "Failed" || get(states, "Failed", "Type") != "Fail" {
			t.Errorf("failure paths: %s %s", js(states["MarkRejected"]), js(states["MarkFailed"]))
		}
		// Every function the workflow calls may be invoked by its role only.
		role := fmt.Sprint(get(sm, "RoleArn", "Fn::GetAtt", 0))
		invokes := ""
		for _, p := range resources(tpl, "AWS::IAM::Policy") {
			if strings.Contains(js(p["Roles"]), role) {
				invokes += js(p)
			}
		}
		for _, name := range workflowFunctions {
			if !strings.Contains(invokes, title(lowerASCII(name))) {
				t.Errorf("state machine role cannot invoke %s", name)
			}
		}
		if !regexp.MustCompile(`"sqs:SendMessage".*"Windows[0-9A-F]{8}","Arn"`).MatchString(invokes) {
			t.Errorf("state machine role cannot send to the window queue: %s", invokes)
		}
	})

	t.Run("window queue", func(t *testing.T) {
		q := one(t, tpl, "AWS::SQS::Queue", "Windows")
		chunk := one(t, tpl, "AWS::Lambda::Function", "Chunk")
		if q["SqsManagedSseEnabled"] != true || q["MessageRetentionPeriod"] != 14*86400.0 ||
			!strings.Contains(js(get(q, "RedrivePolicy", "deadLetterTargetArn")), "WindowsDLQ") {
			t.Errorf("window queue %s", js(q))
		}
		// SQS's guidance for a Lambda trigger: six times the function's timeout.
		if vis, timeout := get(q, "VisibilityTimeout").(float64), get(chunk, "Timeout").(float64); vis < 6*timeout {
			t.Errorf("window queue visibility %v under 6 × chunk's timeout %v", vis, timeout)
		}
		// chunk knows the queue's last receive and its dead letters.
		env := functionEnv(t, tpl, "Chunk")
		if env["WINDOW_MAX_RECEIVES"] != fmt.Sprint(get(q, "RedrivePolicy", "maxReceiveCount")) ||
			!strings.Contains(js(env["WINDOW_DLQ_ARN"]), "WindowsDLQ") {
			t.Errorf("chunk env %s, redrive %s", js(env), js(q["RedrivePolicy"]))
		}
		dlq := one(t, tpl, "AWS::SQS::Queue", "WindowsDLQ")
		if dlq["SqsManagedSseEnabled"] != true || get(dlq, "VisibilityTimeout").(float64) < get(chunk, "Timeout").(float64) {
			t.Errorf("window DLQ %s", js(dlq))
		}
		// The bound: the event source's MaximumConcurrency, one window each.
		m := one(t, tpl, "AWS::Lambda::EventSourceMapping", "ChunkSqsEventSource.*Windows[0-9A-F]{8}")
		if get(m, "BatchSize") != 1.0 || js(get(m, "FunctionResponseTypes")) != `["ReportBatchItemFailures"]` ||
			get(m, "ScalingConfig", "MaximumConcurrency") != 10.0 || !strings.Contains(js(get(m, "EventSourceArn")), `"Windows`) {
			t.Errorf("window event source %s", js(m))
		}
		d := one(t, tpl, "AWS::Lambda::EventSourceMapping", "ChunkSqsEventSource.*WindowsDLQ[0-9A-F]{8}")
		if js(get(d, "FunctionResponseTypes")) != `["ReportBatchItemFailures"]` || get(d, "ScalingConfig", "MaximumConcurrency") != 2.0 {
			t.Errorf("dead window event source %s", js(d))
		}
		pol := functionPolicies(tpl)
		for _, a := range []string{"states:SendTaskSuccess", "states:SendTaskFailure"} {
			if !strings.Contains(js(pol["chunk"][a]), "stateMachine") {
				t.Errorf("chunk may not %s: %v", a, pol["chunk"][a])
			}
		}
		for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage"} {
			if g := js(pol["chunk"][a]); !strings.Contains(g, `"Windows`) || !strings.Contains(g, "WindowsDLQ") {
				t.Errorf("chunk may not %s on both window queues: %s", a, g)
			}
		}
	})

	t.Run("history budget", func(t *testing.T) {
		// One run's worst case fits a Standard execution's 25,000 events,
		// and the pipeline refuses the videos the budget does not cover.
		if n := historyEvents(MaxWindows); n > historyLimit {
			t.Errorf("%d windows can write %d history events, over %d", MaxWindows, n, historyLimit)
		}
		src, err := os.ReadFile("../internal/pipeline/ingest.go")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`const MaxWindows = (\d+)`).FindSubmatch(src)
		if m == nil || string(m[1]) != fmt.Sprint(MaxWindows) {
			t.Errorf("pipeline.MaxWindows %q, the workflow's %d", m, MaxWindows)
		}
		// The retries the budget counts are the definition's.
		var def map[string]any
		json.Unmarshal([]byte(WorkflowDefinition(Config{}.withDefaults().Workflow)), &def)
		for _, name := range []string{"Probe", "WaitForEmbeddings", "Finalize", "MarkRejected", "MarkFailed"} {
			attempts := 0.0
			for _, r := range get(def, "States", name, "Retry").([]any) {
				attempts += get(r, "MaxAttempts").(float64)
			}
			if attempts != throttleMaxAttempts+transientMaxAttempts {
				t.Errorf("%s retries %v times; the budget counts %d", name, attempts, throttleMaxAttempts+transientMaxAttempts)
			}
		}
	})

	t.Run("asl-validator", func(t *testing.T) {
		arns := map[string]string{}
		for _, name := range workflowFunctions {
			arns[name] = "arn:aws:lambda:us-east-1:123456789012:function:scenedex-" + lowerASCII(name)
		}
		path := filepath.Join(t.TempDir(), "workflow.asl.json")
		os.WriteFile(path, []byte(RenderWorkflow(WorkflowDefinition(Config{}.withDefaults().Workflow), arns,
			"https://sqs.us-east-1.amazonaws.com/123456789012/scenedex-Windows")), 0o644)
		bin := filepath.Join("_tools", "node_modules", ".bin", "asl-validator")
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("asl-validator not installed (make test runs npm ci in infra/_tools): %v", err)
		}
		out, err := exec.Command(bin, "--json-path", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "is valid") {
			t.Fatalf("asl-validator: %v\n%s", err, out)
		}
	})

	t.Run("queue and embed", func(t *testing.T) {
		q := one(t, tpl, "AWS::SQS::Queue", "Chunks")
		if get(q, "RedrivePolicy", "maxReceiveCount") != float64(chunkMaxReceives) || get(q, "SqsManagedSseEnabled") != true {
			t.Errorf("queue %s", js(q))
		}
		embed := one(t, tpl, "AWS::Lambda::Function", "Embed")
		if vis, timeout := get(q, "VisibilityTimeout").(float64), get(embed, "Timeout").(float64); vis <= timeout {
			t.Errorf("visibility %v not above the embed timeout %v", vis, timeout)
		}
		m := one(t, tpl, "AWS::Lambda::EventSourceMapping", "EmbedSqsEventSource.*")
		if get(m, "BatchSize") != 10.0 || get(m, "MaximumBatchingWindowInSeconds") != 5.0 ||
			js(get(m, "FunctionResponseTypes")) != `["ReportBatchItemFailures"]` || get(m, "ScalingConfig", "MaximumConcurrency") != 5.0 {
			t.Errorf("event source %s", js(m))
		}
		for _, p := range resources(tpl, "AWS::SQS::QueuePolicy") {
			if !strings.Contains(js(p), `"aws:SecureTransport":"false"`) {
				t.Errorf("queue policy does not enforce TLS: %s", js(p))
			}
		}
		if n := len(resources(tpl, "AWS::SQS::QueuePolicy")); n < 3 {
			t.Errorf("%d queue policies, want one per queue", n)
		}
	})

	t.Run("table", func(t *testing.T) {
		d := one(t, tpl, "AWS::DynamoDB::Table", "Catalog")
		if d["BillingMode"] != "PAY_PER_REQUEST" || get(d, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true ||
			get(d, "GlobalSecondaryIndexes", 0, "IndexName") != "by-collection" {
			t.Errorf("table %s", js(d))
		}
		// The code's sparse indexes exist with the keys it queries.
		keys := map[string]string{}
		for _, ix := range get(d, "GlobalSecondaryIndexes").([]any) {
			keys[fmt.Sprint(get(ix, "IndexName"))] = fmt.Sprint(get(ix, "KeySchema", 0, "AttributeName"), "/", get(ix, "KeySchema", 1, "AttributeName"))
		}
		if keys["by-created"] != "entity/created_at" || keys["pending"] != "pending/updated_at" {
			t.Errorf("indexes %v", keys)
		}
	})

	t.Run("opensearch domain", func(t *testing.T) {
		d := one(t, tpl, "AWS::OpenSearchService::Domain", "Search")
		if get(d, "EncryptionAtRestOptions", "Enabled") != true || get(d, "NodeToNodeEncryptionOptions", "Enabled") != true ||
			get(d, "DomainEndpointOptions", "EnforceHTTPS") != true || d["AccessPolicies"] != nil {
			t.Errorf("domain %s", js(d))
		}
	})

	t.Run("model", func(t *testing.T) {
		one(t, tpl, "AWS::SageMaker::Model", "Model")
		c := one(t, tpl, "AWS::SageMaker::EndpointConfig", "EndpointConfig")
		// The image carries CLIP ViT-B/32 (pulled while it is built): 4 GB;
		// 2 × embedConcurrency, within the default quota of 10.
		if get(c, "ProductionVariants", 0, "ServerlessConfig", "MemorySizeInMB") != 4096.0 ||
			get(c, "ProductionVariants", 0, "ServerlessConfig", "MaxConcurrency") != 10.0 {
			t.Errorf("endpoint config %s", js(c))
		}
		one(t, tpl, "AWS::SageMaker::Endpoint", "Endpoint")
	})

	t.Run("api", func(t *testing.T) {
		var keys []string
		for _, r := range routesOf(tpl, "HttpApi") {
			keys = append(keys, fmt.Sprint(r["RouteKey"]))
			if r["AuthorizationType"] != "AWS_IAM" {
				t.Errorf("route %v is not IAM-authorized", r["RouteKey"])
			}
		}
		sort.Strings(keys)
		// Every route the API handler serves is a route of the HTTP API.
		src, err := os.ReadFile("../internal/httpapi/httpapi.go")
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, m := range regexp.MustCompile(`HandleFunc\("((GET|POST|DELETE) /[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
			want = append(want, m[1])
		}
		sort.Strings(want)
		if len(want) < 9 || strings.Join(keys, ",") != strings.Join(want, ",") {
			t.Errorf("routes %v, the handler serves %v", keys, want)
		}
		stage := one(t, tpl, "AWS::ApiGatewayV2::Stage", "HttpApiDefaultStage")
		if get(stage, "AccessLogSettings", "DestinationArn") == nil {
			t.Errorf("stage without access logs: %s", js(stage))
		}
		outputs := tpl["Outputs"].(map[string]any)
		for _, o := range []string{"ApiUrl", "BucketName", "StateMachineArn", "OpenSearchEndpoint"} {
			if outputs[o] == nil {
				t.Errorf("output %s missing", o)
			}
		}
	})

	t.Run("web app", func(t *testing.T) {
		site := one(t, tpl, "AWS::S3::Bucket", "Site")
		if js(get(site, "PublicAccessBlockConfiguration")) != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` ||
			get(site, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm") != "AES256" ||
			get(site, "LoggingConfiguration", "LogFilePrefix") != "site/" {
			t.Errorf("site bucket %s", js(site))
		}
		// Only CloudFront, through origin access control, reads it.
		var readers []string
		for _, p := range resources(tpl, "AWS::S3::BucketPolicy") {
			if strings.Contains(js(p["Bucket"]), "Site") {
				readers = append(readers, js(get(p, "PolicyDocument", "Statement")))
			}
		}
		if len(readers) != 1 || !strings.Contains(readers[0], `"Service":"cloudfront.amazonaws.com"`) || !strings.Contains(readers[0], "AWS:SourceArn") {
			t.Errorf("site bucket policy %v", readers)
		}
		one(t, tpl, "AWS::CloudFront::OriginAccessControl", "SiteDistributionOrigin1S3OriginAccessControl")
		d := get(one(t, tpl, "AWS::CloudFront::Distribution", "SiteDistribution"), "DistributionConfig")
		if get(d, "DefaultCacheBehavior", "ViewerProtocolPolicy") != "redirect-to-https" || get(d, "DefaultRootObject") != "index.html" ||
			get(d, "Logging", "Prefix") != "cloudfront/" || get(d, "Origins", 0, "S3OriginConfig", "OriginAccessIdentity") != "" {
			t.Errorf("distribution %s", js(d))
		}
		h := js(get(one(t, tpl, "AWS::CloudFront::ResponseHeadersPolicy", "SiteHeaders"), "ResponseHeadersPolicyConfig", "SecurityHeadersConfig"))
		for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "https://*.execute-api.", "amazoncognito.com",
			`"FrameOption":"DENY"`, `"ReferrerPolicy":"no-referrer"`, `"AccessControlMaxAgeSec":31536000`, "ContentTypeOptions"} {
			if !strings.Contains(h, want) {
				t.Errorf("security headers lack %s: %s", want, h)
			}
		}
		pool := one(t, tpl, "AWS::Cognito::UserPool", "Users")
		if get(pool, "AdminCreateUserConfig", "AllowAdminCreateUserOnly") != true || get(pool, "MfaConfiguration") != "ON" ||
			get(pool, "Policies", "PasswordPolicy", "MinimumLength") != 12.0 {
			t.Errorf("user pool %s", js(pool))
		}
		client := one(t, tpl, "AWS::Cognito::UserPoolClient", "UsersWebApp")
		if js(client["AllowedOAuthFlows"]) != `["code"]` || client["GenerateSecret"] != false ||
			!strings.Contains(js(client["CallbackURLs"]), "SiteDistribution") || client["AllowedOAuthFlowsUserPoolClient"] != true {
			t.Errorf("app client %s", js(client))
		}
		one(t, tpl, "AWS::Cognito::UserPoolDomain", "UsersUsersDomain")
		// The app's API: the pool's JWTs on the app's routes only, CORS to the
		// app's origin.
		auth := one(t, tpl, "AWS::ApiGatewayV2::Authorizer", "AppApiAppUsers")
		if auth["AuthorizerType"] != "JWT" || !strings.Contains(js(auth), "cognito-idp") {
			t.Errorf("authorizer %s", js(auth))
		}
		var appKeys []string
		for _, r := range routesOf(tpl, "AppApi") {
			appKeys = append(appKeys, fmt.Sprint(r["RouteKey"]))
			if r["AuthorizationType"] != "JWT" {
				t.Errorf("app route %v is %v", r["RouteKey"], r["AuthorizationType"])
			}
		}
		sort.Strings(appKeys)
		keys := strings.Join(appKeys, ",")
		if len(appKeys) != len(appRoutes) || strings.Contains(keys, "dead-letters") || strings.Contains(keys, "POST /v1/reindex") ||
			strings.Contains(keys, "DELETE /v1/reindex") || !strings.Contains(keys, "GET /v1/reindex") {
			t.Errorf("app routes %v", appKeys)
		}
		api := one(t, tpl, "AWS::ApiGatewayV2::Api", "AppApi")
		if cors := js(api["CorsConfiguration"]); !strings.Contains(cors, "SiteDistribution") || strings.Contains(cors, `"*"`) {
			t.Errorf("app API CORS %s", cors)
		}
		if get(one(t, tpl, "AWS::ApiGatewayV2::Stage", "AppApiDefaultStage"), "AccessLogSettings", "DestinationArn") == nil {
			t.Error("app API stage without access logs")
		}
		// The page and its config reach the bucket.
		dep := js(one(t, tpl, "Custom::CDKBucketDeployment", "SiteFilesCustomResource"))
		if !strings.Contains(dep, "SiteDistribution") {
			t.Errorf("deployment does not invalidate the distribution: %s", dep)
		}
		outputs := tpl["Outputs"].(map[string]any)
		for _, o := range []string{"AppUrl", "AppApiUrl", "UserPoolId", "AddUser"} {
			if outputs[o] == nil {
				t.Errorf("output %s missing", o)
			}
		}
		if !strings.Contains(js(outputs["AddUser"]), "admin-create-user") {
			t.Errorf("AddUser output %s", js(outputs["AddUser"]))
		}
	})

	t.Run("functions", func(t *testing.T) {
		fns := resources(tpl, "AWS::Lambda::Function")
		for _, name := range functionNames {
			var fn map[string]any
			for id, p := range fns {
				if strings.HasPrefix(id, title(name)) {
					fn = p
				}
			}
			if fn == nil {
				t.Fatalf("function %s missing", name)
			}
			if fn["Runtime"] != "provided.al2023" || js(fn["Architectures"]) != `["arm64"]` || get(fn, "TracingConfig", "Mode") != "Active" {
				t.Errorf("%s: %v %v", name, fn["Runtime"], fn["Architectures"])
			}
			hasLayer := fn["Layers"] != nil
			if hasLayer != (name == "probe" || name == "chunk") {
				t.Errorf("%s: ffmpeg layer %v", name, hasLayer)
			}
		}
	})

	t.Run("embed can queue a model switch's pages", func(t *testing.T) {
		if q := js(functionEnv(t, tpl, "Embed")["CHUNK_QUEUE_URL"]); !regexp.MustCompile(`^\{"Ref":"Chunks[0-9A-F]{8}"\}$`).MatchString(q) {
			t.Errorf("embed's CHUNK_QUEUE_URL %s, want the chunk queue's URL", q)
		}
	})

	t.Run("least privilege", func(t *testing.T) {
		pol := functionPolicies(tpl)
		allows := func(fn, action, resourcePart string) bool {
			for _, r := range pol[fn][action] {
				if strings.Contains(r, resourcePart) {
					return true
				}
			}
			return false
		}
		tests := []struct {
			fn, action, resource string
			want                 bool
		}{
			{"upload", "s3:PutObject", "/uploads/*", true},
			{"upload", "s3:GetObject", "", false},
			{"chunk", "s3:PutObject", "/chunks/*", true},
			{"chunk", "s3:PutObject", "/uploads/*", false},
			{"chunk", "s3:GetObject", "/uploads/*", true},
			{"probe", "s3:PutObject", "", false},
			{"embed", "s3:GetObject", "/chunks/*", true},
			{"embed", "s3:PutObject", "", false},
			{"embed", "sagemaker:InvokeEndpoint", "Endpoint", true},
			{"embed", "es:ESHttpPost", "scenedex-chunks", true},
			{"embed", "states:SendTaskSuccess", "stateMachine", true},
			{"embed", "states:SendTaskHeartbeat", "", false}, // the embeddings wait has no heartbeat
			{"embed", "dynamodb:UpdateItem", "Catalog", true},
			{"chunk", "dynamodb:GetItem", "", false},
			{"chunk", "sqs:SendMessage", "Chunks", true},
			// A model switch's page messages: embed lists a page of videos
			// (the by-created index only) and queues their chunks.
			{"embed", "sqs:SendMessage", "Chunks", true},
			{"embed", "dynamodb:Query", "/index/by-created", true},
			{"embed", "dynamodb:Query", "/index/*", false},
			{"embed", "dynamodb:Query", "/index/by-key", false},
			{"api", "sqs:SendMessage", "Chunks", true},        // reindex
			{"api", "states:StartExecution", "-ingest", true}, // reprocess
			{"api", "sqs:StartMessageMoveTask", "ChunksDLQ", true},
			{"api", "sqs:ReceiveMessage", "EventsDLQ", true},
			{"embed", "sqs:StartMessageMoveTask", "", false},
			{"api", "es:ESHttpPut", "_search/pipeline/scenedex-hybrid", true},
			{"embed", "es:ESHttpPut", "_search/pipeline", false},
			{"start", "states:StartExecution", "-ingest", true},
			{"start", "s3:GetObject", "", false},
			{"finalize", "events:PutEvents", "event-bus/default", true},
			{"api", "dynamodb:DeleteItem", "Catalog", true},
			{"probe", "dynamodb:DeleteItem", "", false},
			{"upload", "sagemaker:InvokeEndpoint", "", false},
			{"sweep", "dynamodb:Query", "Catalog", true},
			{"sweep", "dynamodb:Scan", "", false}, // the pending index, never a scan
			{"api", "dynamodb:Scan", "", false},
			{"sweep", "s3:GetObject", "/uploads/*", true}, // HeadObject before failing an upload
			{"sweep", "s3:GetObject", "/chunks/*", false},
			// sweep completes deletes cut short: documents, chunk files, upload, records.
			{"sweep", "s3:DeleteObject", "/chunks/*", true},
			{"sweep", "s3:DeleteObject", "/uploads/*", true},
			{"sweep", "es:ESHttpPost", "scenedex-chunks", true},
			{"sweep", "dynamodb:BatchWriteItem", "Catalog", true},
			{"sweep", "s3:PutObject", "", false},
			{"sweep", "states:StartExecution", "-ingest", true},
			{"sweep", "s3:ListBucket", "Media", true},
			{"probe", "s3:ListBucket", "Media", true},
			// chunk may list uploads/ only: a window of a deleted object is a 404 (skipped), not a 403.
			{"chunk", "s3:ListBucket", "uploads/*", true},
			{"chunk", "s3:ListBucket", "chunks/*", false},
			{"chunk", "states:SendTaskFailure", "-ingest", true}, // answers its window's token
			{"chunk", "states:StartExecution", "", false},
			{"chunk", "sqs:SendMessage", "Windows", false}, // the workflow sends windows, chunk only reads them
			// forget: finds by key, deletes records, documents and chunk files; writes nothing else.
			{"forget", "dynamodb:Query", "index/*", true},
			{"forget", "dynamodb:DeleteItem", "Catalog", true},
			{"forget", "dynamodb:Scan", "", false},
			{"forget", "s3:DeleteObject", "/chunks/*", true},
			{"forget", "s3:DeleteObject", "/uploads/*", false}, // the object is gone already
			{"forget", "s3:GetObject", "/uploads/*", true},     // is it back?
			{"forget", "s3:PutObject", "", false},
			{"forget", "es:ESHttpPost", "scenedex-chunks", true},
			{"forget", "sagemaker:InvokeEndpoint", "", false},
			{"forget", "states:StartExecution", "", false},
			{"finalize", "dynamodb:DeleteItem", "Catalog", true}, // retires older versions
			{"finalize", "s3:DeleteObject", "/chunks/*", true},
			{"finalize", "s3:DeleteObject", "/uploads/*", false},
			{"await", "s3:DeleteObject", "/chunks/*", true}, // a video deleted while it was cut
			{"await", "dynamodb:DeleteItem", "", false},
			// A model switch: the next generations of the index.
			{"embed", "es:ESHttpPost", "scenedex-chunks-g*", true},
			{"api", "es:ESHttpDelete", "scenedex-chunks-g*", true},
			// forget writes a tombstone before it removes anything (and the
			// index's state record when a delete ends a model switch).
			{"forget", "dynamodb:PutItem", "Catalog", true},
			{"forget", "dynamodb:UpdateItem", "", false},
		}
		for _, tc := range tests {
			got := allows(tc.fn, tc.action, tc.resource)
			if tc.resource == "" {
				got = len(pol[tc.fn][tc.action]) > 0
			}
			if got != tc.want {
				t.Errorf("%s may %s on %q: %v, want %v (policies: %v)", tc.fn, tc.action, tc.resource, got, tc.want, pol[tc.fn][tc.action])
			}
		}
		for fn, actions := range pol {
			for a := range actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					t.Errorf("%s is granted %s", fn, a)
				}
			}
		}
	})

	t.Run("sweep schedule", func(t *testing.T) {
		r := one(t, tpl, "AWS::Events::Rule", "SweepSchedule")
		if r["ScheduleExpression"] != "rate(15 minutes)" || !strings.Contains(js(get(r, "Targets", 0, "Arn")), "Sweep") {
			t.Errorf("sweep rule %s", js(r))
		}
	})

	t.Run("alarms", func(t *testing.T) {
		if n := len(resources(tpl, "AWS::CloudWatch::Alarm")); n != 4 {
			t.Errorf("%d alarms, want 4", n)
		}
		// Somebody is told: every alarm notifies the encrypted, TLS-only topic
		// (no email subscription unless alarmEmail is set).
		for id, a := range resources(tpl, "AWS::CloudWatch::Alarm") {
			if acts := js(a["AlarmActions"]); !regexp.MustCompile(`^\[\{"Ref":"Alarms[0-9A-F]{8}"\}\]$`).MatchString(acts) {
				t.Errorf("alarm %s notifies %s", id, acts)
			}
		}
		topic := one(t, tpl, "AWS::SNS::Topic", "Alarms")
		if !strings.Contains(js(topic["KmsMasterKeyId"]), "AlarmsKey") {
			t.Errorf("alarm topic not encrypted with the stack's key: %s", js(topic))
		}
		key := one(t, tpl, "AWS::KMS::Key", "AlarmsKey")
		if key["EnableKeyRotation"] != true || !strings.Contains(js(key["KeyPolicy"]), `"Service":"cloudwatch.amazonaws.com"`) {
			t.Errorf("alarm key %s", js(key))
		}
		tls := false
		for _, p := range resources(tpl, "AWS::SNS::TopicPolicy") {
			tls = tls || (strings.Contains(js(p), `"aws:SecureTransport":"false"`) && strings.Contains(js(p), `"Effect":"Deny"`))
		}
		if !tls {
			t.Error("the alarm topic accepts requests without TLS")
		}
		if n := len(resources(tpl, "AWS::SNS::Subscription")); n != 0 {
			t.Errorf("%d subscriptions without alarmEmail", n)
		}
		waiting := one(t, tpl, "AWS::CloudWatch::Alarm", "ChunksWaiting")
		if waiting["MetricName"] != "ApproximateAgeOfOldestMessage" || waiting["Threshold"] != 1800.0 {
			t.Errorf("chunks waiting alarm %s", js(waiting))
		}
		for id := range resources(tpl, "AWS::CloudWatch::Alarm") {
			if strings.HasPrefix(id, "EmbedErrors") {
				t.Error("an alarm on embed's errors never fires (partial batch responses)")
			}
		}
		one(t, tpl, "AWS::CloudWatch::Dashboard", "Dashboard")
	})

	t.Run("backlog and lost events", func(t *testing.T) {
		// Object Created events wait in the events queue (14 days), not in
		// start's asynchronous retries (6 hours at most): no async invoke
		// configuration on start, the rule targets the queue.
		for id := range resources(tpl, "AWS::Lambda::EventInvokeConfig") {
			if strings.HasPrefix(id, "Start") {
				t.Errorf("start is still invoked asynchronously: %s", id)
			}
		}
		q := one(t, tpl, "AWS::SQS::Queue", "Events")
		start := one(t, tpl, "AWS::Lambda::Function", "Start")
		if q["SqsManagedSseEnabled"] != true || q["MessageRetentionPeriod"] != 1209600.0 ||
			get(q, "VisibilityTimeout").(float64) < 6*get(start, "Timeout").(float64) ||
			!strings.Contains(js(get(q, "RedrivePolicy", "deadLetterTargetArn")), "EventsDLQ") ||
			get(q, "RedrivePolicy", "maxReceiveCount") != 1000.0 {
			t.Errorf("events queue %s", js(q))
		}
		rule := one(t, tpl, "AWS::Events::Rule", "ObjectCreated")
		if targets := js(get(rule, "Targets")); !strings.Contains(targets, `"Events`) || strings.Contains(targets, "Start") {
			t.Errorf("the Object Created rule targets %s, want the events queue", targets)
		}
		// EventBridge sends to an SQS target under the queue's resource
		// policy: events.amazonaws.com may sqs:SendMessage, from this rule
		// only (EventBridge user guide, "Using resource-based policies for
		// Amazon EventBridge", Amazon SQS permissions).
		sent := false
		for _, p := range resources(tpl, "AWS::SQS::QueuePolicy") {
			doc := js(p)
			if strings.Contains(doc, `"events.amazonaws.com"`) && strings.Contains(doc, `"sqs:SendMessage"`) {
				sent = strings.Contains(js(get(p, "Queues")), `"Events`) && strings.Contains(doc, `"aws:SourceArn"`) &&
					strings.Contains(doc, `ObjectCreated`)
			}
		}
		if !sent {
			t.Error("no queue policy lets the Object Created rule (aws:SourceArn) send to the events queue")
		}
		m := one(t, tpl, "AWS::Lambda::EventSourceMapping", "StartSqsEventSource.*")
		if get(m, "BatchSize") != 10.0 || js(get(m, "FunctionResponseTypes")) != `["ReportBatchItemFailures"]` ||
			get(m, "ScalingConfig", "MaximumConcurrency") != 2.0 || !strings.Contains(js(get(m, "EventSourceArn")), `"Events`) {
			t.Errorf("start's event source %s", js(m))
		}
		pol := functionPolicies(tpl)
		for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"} {
			if !strings.Contains(js(pol["start"][a]), `"Events`) {
				t.Errorf("start may not %s on the events queue: %v", a, pol["start"][a])
			}
		}
		// A fresh account deploys: no function reserves concurrency.
		for id, fn := range resources(tpl, "AWS::Lambda::Function") {
			if fn["ReservedConcurrentExecutions"] != nil {
				t.Errorf("%s reserves %v concurrent executions", id, fn["ReservedConcurrentExecutions"])
			}
		}
		for _, fn := range []string{"Upload", "Api"} {
			if env := functionEnv(t, tpl, fn); env["MAX_UPLOAD_BYTES"] != "53687091200" {
				t.Errorf("%s MAX_UPLOAD_BYTES %v", fn, env["MAX_UPLOAD_BYTES"])
			}
		}
		if env := functionEnv(t, tpl, "Sweep"); env["STATE_MACHINE_ARN"] == nil {
			t.Error("sweep cannot start runs")
		}
	})
}

// Settings the stack cannot honour are refused at synth, with the reason.
func TestBadSettingsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{EmbedConcurrency: 1}, "embedConcurrency=1"},
		{Config{OCR: "maybe"}, "ocr=maybe"},
		{Config{Embedder: "openai"}, "embedder=openai"},
		{Config{Embedder: "bedrock", OCR: "on"}, "no OCR form"},
		{Config{Embedder: "bedrock", EmbeddingDim: 512}, "embeddingDim=512"},
		{Config{ChunkConcurrency: 1}, "chunkConcurrency=1: the window queue's event source takes a maximum concurrency from 2"},
		{Config{ChunkReservedConcurrency: 5}, "chunkReservedConcurrency=5: want 0 (none) or at least chunkConcurrency (10)"},
		{Config{WindowWaitHours: 24 * 14}, "windowWaitHours=336: want 1 to 335 hours, under the queues' 14-day retention"},
		{Config{EmbedWaitHours: 400}, "embedWaitHours=400"},
		{Config{EmbedConcurrency: 6}, "needs a MaxConcurrency of 12 (2 × embedConcurrency), over this account's serverless concurrency quota of 10"},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Errorf("%+v: %v", tc.cfg, r)
				}
			}()
			app := awscdk.NewApp(nil)
			NewStack(app, "bad", nil, tc.cfg)
		}()
	}
}

func TestServerlessSearchAndExistingEndpointAndBucket(t *testing.T) {
	tpl, nagErrors := synth(t, map[string]any{"searchEngine": "serverless", "embeddingEndpoint": "my-clip", "sourceBucket": "existing-videos"})
	if len(nagErrors) > 0 {
		t.Fatalf("cdk-nag AwsSolutions errors without a suppression:\n%s", strings.Join(nagErrors, "\n"))
	}
	c := one(t, tpl, "AWS::OpenSearchServerless::Collection", "Search")
	if c["Type"] != "VECTORSEARCH" {
		t.Errorf("collection %s", js(c))
	}
	types := map[string]bool{}
	for _, p := range resources(tpl, "AWS::OpenSearchServerless::SecurityPolicy") {
		types[fmt.Sprint(p["Type"])] = true
	}
	if !types["encryption"] || !types["network"] {
		t.Errorf("security policies %v", types)
	}
	access := one(t, tpl, "AWS::OpenSearchServerless::AccessPolicy", "SearchAccess")
	if !strings.Contains(js(access), "Embed") || !strings.Contains(js(access), "aoss:WriteDocument") ||
		!strings.Contains(js(access), "scenedex-chunks-g*") || !strings.Contains(js(access), "aoss:DeleteIndex") {
		t.Errorf("data access policy %s", js(access))
	}
	if len(resources(tpl, "AWS::OpenSearchService::Domain")) != 0 || len(resources(tpl, "AWS::SageMaker::Model")) != 0 {
		t.Error("domain or model deployed although not wanted")
	}
	if len(resources(tpl, "AWS::S3::Bucket")) != 2 { // only the access-log and the web app's buckets
		t.Errorf("%d buckets created with sourceBucket set", len(resources(tpl, "AWS::S3::Bucket")))
	}
	rule := one(t, tpl, "AWS::Events::Rule", "ObjectCreated")
	if !strings.Contains(js(rule["EventPattern"]), `"name":["existing-videos"]`) {
		t.Errorf("rule does not watch the existing bucket: %s", js(rule["EventPattern"]))
	}
	if env := functionEnv(t, tpl, "Embed"); env["OCR"] != "off" || env["OPENSEARCH_REPLICAS"] != nil {
		t.Errorf("OCR with an existing endpoint: %v", env["OCR"])
	}
	pol := functionPolicies(tpl)
	if !strings.Contains(js(pol["embed"]["sagemaker:InvokeEndpoint"]), "endpoint/my-clip") {
		t.Errorf("embed endpoint grant %v", pol["embed"]["sagemaker:InvokeEndpoint"])
	}
}

// routesOf are the routes of the HTTP API whose logical id starts with api.
func routesOf(tpl map[string]any, api string) []map[string]any {
	var out []map[string]any
	for _, r := range resources(tpl, "AWS::ApiGatewayV2::Route") {
		if ref, _ := get(r, "ApiId", "Ref").(string); strings.HasPrefix(ref, api) {
			out = append(out, r)
		}
	}
	return out
}

// -c embedder=bedrock: no model image or endpoint (no Docker needed), the
// embed and api functions may invoke that one foundation model and nothing
// of SageMaker, OCR is off, cdk-nag stays clean.
func TestBedrockEmbedder(t *testing.T) {
	tpl, nagErrors := synth(t, map[string]any{"embedder": "bedrock", "embeddingDim": 384})
	if len(nagErrors) > 0 {
		t.Fatalf("cdk-nag: %s", strings.Join(nagErrors, "\n"))
	}
	for _, typ := range []string{"AWS::SageMaker::Model", "AWS::SageMaker::Endpoint", "AWS::SageMaker::EndpointConfig"} {
		if n := len(resources(tpl, typ)); n != 0 {
			t.Errorf("%d %s with Bedrock", n, typ)
		}
	}
	if strings.Contains(js(tpl), "ModelImage") {
		t.Error("a model image is built with Bedrock")
	}
	pol := functionPolicies(tpl)
	for _, fn := range []string{"embed", "api"} {
		grant := js(pol[fn]["bedrock:InvokeModel"])
		if !strings.Contains(grant, "foundation-model/amazon.titan-embed-image-v1") || strings.Contains(grant, "*") || len(pol[fn]["bedrock:InvokeModel"]) != 1 {
			t.Errorf("%s bedrock grant %s", fn, grant)
		}
		if len(pol[fn]["sagemaker:InvokeEndpoint"]) != 0 {
			t.Errorf("%s may invoke SageMaker", fn)
		}
	}
	for _, fn := range []string{"chunk", "probe", "upload", "forget"} {
		if len(pol[fn]["bedrock:InvokeModel"]) != 0 {
			t.Errorf("%s may invoke Bedrock", fn)
		}
	}
	env := functionEnv(t, tpl, "Embed")
	if env["BEDROCK_MODEL_ID"] != "amazon.titan-embed-image-v1" || env["EMBEDDING_DIM"] != "384" || env["OCR"] != "off" || env["EMBEDDING_ENDPOINT"] != nil {
		t.Errorf("embed env %v", env)
	}
	if out := js(tpl["Outputs"].(map[string]any)["EmbeddingModel"]); !strings.Contains(out, "384 dimensions") {
		t.Errorf("output %s", out)
	}
}

func TestAppOff(t *testing.T) {
	tpl, nagErrors := synth(t, map[string]any{"app": "off", "corsOrigins": "https://studio.example",
		"chunkReservedConcurrency": "150", "alarmEmail": "ops@example.com"})
	if len(nagErrors) > 0 {
		t.Fatalf("cdk-nag: %s", strings.Join(nagErrors, "\n"))
	}
	for _, typ := range []string{"AWS::CloudFront::Distribution", "AWS::Cognito::UserPool", "Custom::CDKBucketDeployment"} {
		if n := len(resources(tpl, typ)); n != 0 {
			t.Errorf("app=off: %d %s", n, typ)
		}
	}
	if n := len(resources(tpl, "AWS::ApiGatewayV2::Api")); n != 1 {
		t.Errorf("app=off: %d HTTP APIs", n)
	}
	if cors := js(get(one(t, tpl, "AWS::S3::Bucket", "Media"), "CorsConfiguration", "CorsRules", 0, "AllowedOrigins")); cors != `["https://studio.example"]` {
		t.Errorf("cors origins %s", cors)
	}
	// The opt-in reservation, and the alarms' email.
	if fn := one(t, tpl, "AWS::Lambda::Function", "Chunk"); fn["ReservedConcurrentExecutions"] != 150.0 {
		t.Errorf("chunkReservedConcurrency=150: reserved %v", fn["ReservedConcurrentExecutions"])
	}
	sub := one(t, tpl, "AWS::SNS::Subscription", "Alarms.*")
	if sub["Protocol"] != "email" || sub["Endpoint"] != "ops@example.com" || !strings.Contains(js(sub["TopicArn"]), "Alarms") {
		t.Errorf("alarm subscription %s", js(sub))
	}
}

// functionEnv is the environment of the Lambda function whose logical id
// starts with name.
func functionEnv(t *testing.T, tpl map[string]any, name string) map[string]any {
	t.Helper()
	for id, r := range resources(tpl, "AWS::Lambda::Function") {
		if strings.HasPrefix(id, name) {
			env, _ := get(r, "Environment", "Variables").(map[string]any)
			return env
		}
	}
	t.Fatalf("no function %s", name)
	return nil
}

// throttleWaitLowHours is how long a throttle retrier (JitterStrategy FULL:
// each delay uniform in [0, d], Step Functions developer guide, "Retrying
// after an error") keeps retrying at the least, 4 standard deviations under
// the mean of the sum of its delays.
func throttleWaitLowHours(t *testing.T, r any) float64 {
	t.Helper()
	d, rate, maxDelay := get(r, "IntervalSeconds").(float64), get(r, "BackoffRate").(float64), get(r, "MaxDelaySeconds").(float64)
	if get(r, "JitterStrategy") != "FULL" {
		t.Fatalf("retrier %s: the sum below assumes full jitter", js(r))
	}
	mean, variance := 0.0, 0.0
	for i := 0; i < int(get(r, "MaxAttempts").(float64)); i++ {
		delay := min(d, maxDelay)
		mean += delay / 2
		variance += delay * delay / 12
		d *= rate
	}
	return (mean - 4*math.Sqrt(variance)) / 3600
}

func TestMain(m *testing.M) {
	// jsii's Node runs the CDK; Node 20 works but warns on every start.
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	os.Exit(m.Run())
}

func TestServerlessNamesFitTheirLimits(t *testing.T) {
	seen := map[string]bool{}
	for _, stack := range []string{"scenedex", "a-very-long-stack-name-for-production-eu", "a-very-long-stack-name-for-production-us", "Scenedex_Prod2", "9lives"} {
		n := serverlessName(stack)
		if len(n) > 28 || len(n+"-data") > 32 || !regexp.MustCompile(`^[a-z][a-z0-9-]+$`).MatchString(n) || seen[n] {
			t.Errorf("%s -> %q", stack, n)
		}
		seen[n] = true
	}
}

// Synth tells which account limits the settings need.
func TestAccountLimitsPrinted(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
		not  string
	}{
		{"defaults", Config{}, []string{"Lambda concurrent executions  >= 29", "start 2", "SageMaker serverless endpoint concurrency  >= 10"}, ""},
		{"more of both", Config{ChunkConcurrency: 50, EmbedConcurrency: 20, ServerlessConcurrencyQuota: 40},
			[]string{">= 84", "chunk 50 + dead windows 2 + start 2 + embed 20", "endpoint concurrency  >= 40"}, ""},
		{"a reservation", Config{ChunkReservedConcurrency: 150}, []string{">= 250", "the 100 AWS keeps unreserved"}, ""},
		{"bedrock", Config{Embedder: "bedrock"}, []string{">= 29"}, "SageMaker"},
	} {
		var b strings.Builder
		printAccountLimits(&b, tc.cfg.withDefaults())
		out := strings.Join(strings.Fields(b.String()), " ") // the table's columns, as words
		for _, w := range tc.want {
			if !strings.Contains(out, strings.Join(strings.Fields(w), " ")) {
				t.Errorf("%s: %q lacks %q", tc.name, b.String(), w)
			}
		}
		if tc.not != "" && strings.Contains(out, tc.not) {
			t.Errorf("%s: %q names %s", tc.name, b.String(), tc.not)
		}
	}
}
