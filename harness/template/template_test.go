package template

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLoad synthesizes the real stack (cdk.json's context, through the CDK
// CLI) and checks what the harness reads from it against what
// infra/stack.go declares.
func TestLoad(t *testing.T) {
	st, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := RepoRoot()
	names, _ := FunctionNames(root)
	for _, name := range names {
		if st.Functions[name] == nil {
			t.Errorf("function %s of functions/ is not in the template", name)
		}
	}
	if len(st.Functions) != len(names) {
		t.Errorf("%d functions read, want %d (CDK's helpers left out)", len(st.Functions), len(names))
	}
	chunks := st.QueueByURL(st.Functions["chunk"].Env["CHUNK_QUEUE_URL"])
	if chunks == nil {
		t.Fatalf("chunk's CHUNK_QUEUE_URL %q is no queue of the stack", st.Functions["chunk"].Env["CHUNK_QUEUE_URL"])
	}
	if !strings.HasPrefix(chunks.URL, "https://sqs."+Region+".amazonaws.com/"+Account+"/") || chunks.ARN != "arn:aws:sqs:"+Region+":"+Account+":"+chunks.Name {
		t.Errorf("queue url %s arn %s", chunks.URL, chunks.ARN)
	}
	if chunks.MaxReceiveCount == 0 || st.QueueByARN(chunks.DeadLetterARN) == nil {
		t.Errorf("chunk queue redrive: %d receives to %q", chunks.MaxReceiveCount, chunks.DeadLetterARN)
	}
	embed := st.Functions["embed"]
	if embed.TimeoutSeconds != 120 || embed.MemoryMB != 1024 {
		t.Errorf("embed timeout %d memory %d", embed.TimeoutSeconds, embed.MemoryMB)
	}
	if chunks.VisibilityTimeoutSecs != 6*embed.TimeoutSeconds {
		t.Errorf("visibility timeout %d, want 6 x embed's timeout", chunks.VisibilityTimeoutSecs)
	}
	if len(embed.EventSources) != 1 || embed.EventSources[0].QueueARN != chunks.ARN ||
		!slices.Contains(embed.EventSources[0].FunctionResponseTypes, "ReportBatchItemFailures") || embed.EventSources[0].MaximumConcurrency < 2 {
		t.Errorf("embed's event sources: %+v", embed.EventSources)
	}
	if table := embed.Env["TABLE"]; table == "" || !strings.HasPrefix(table, StackName+"-Catalog") {
		t.Errorf("TABLE %q", table)
	}
	if ep := embed.Env["OPENSEARCH_ENDPOINT"]; !strings.HasPrefix(ep, "https://search-") {
		t.Errorf("OPENSEARCH_ENDPOINT %q: Fn::Join of https:// and the domain endpoint", ep)
	}
	tableArn := "arn:aws:dynamodb:" + Region + ":" + Account + ":table/" + embed.Env["TABLE"]
	if !hasGrant(embed.Policy, "dynamodb:GetItem", tableArn) {
		t.Errorf("embed's policy lacks GetItem on %s: %v", tableArn, embed.Policy)
	}
	if !hasGrant(embed.Policy, "sqs:ReceiveMessage", chunks.ARN) {
		t.Errorf("embed's policy lacks its event source's ReceiveMessage: %v", embed.Policy)
	}
	if len(embed.ManagedPolicies) == 0 || !strings.HasSuffix(embed.ManagedPolicies[0], "AWSLambdaBasicExecutionRole") {
		t.Errorf("managed policies %v", embed.ManagedPolicies)
	}
	// A condition is kept: forget may list the bucket under chunks/ only.
	var cond bool
	for _, s := range st.Functions["forget"].Policy {
		cond = cond || len(s.Condition["StringLike"]["s3:prefix"]) > 0
	}
	if !cond {
		t.Error("forget's s3:prefix condition is lost")
	}
	m, err := st.Machine()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Definition, "${") {
		t.Errorf("definition keeps a substitution: %s", m.Definition[:200])
	}
	var def map[string]any
	if err := json.Unmarshal([]byte(m.Definition), &def); err != nil {
		t.Fatalf("definition is not JSON: %v", err)
	}
	if !strings.Contains(m.Definition, st.Functions["probe"].ARN) {
		t.Errorf("definition does not invoke probe's ARN %s", st.Functions["probe"].ARN)
	}
	if m.ARN != st.Functions["start"].Env["STATE_MACHINE_ARN"] {
		t.Errorf("machine ARN %s, start's STATE_MACHINE_ARN %s", m.ARN, st.Functions["start"].Env["STATE_MACHINE_ARN"])
	}
}

// TestSynthesizeReadsCdkJSON: a context value of cdk.json reaches the
// template (the harness synthesizes as `cdk deploy` does, not with the
// code's defaults), and -c overrides it.
func TestSynthesizeReadsCdkJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes the stack")
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := readJSON(filepath.Join(root, "cdk.json"), &cdk); err != nil {
		t.Fatal(err)
	}
	st, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := num(cdk.Context["embedConcurrency"])
	if got := st.Functions["embed"].EventSources[0].MaximumConcurrency; want == 0 || got != want {
		t.Errorf("embed's MaximumConcurrency %d, cdk.json's embedConcurrency %v", got, cdk.Context["embedConcurrency"])
	}
	other, err := LoadWith(t.Context(), root, map[string]string{"embedConcurrency": "3", "app": "off"})
	if err != nil {
		t.Fatal(err)
	}
	if got := other.Functions["embed"].EventSources[0].MaximumConcurrency; got != 3 {
		t.Errorf("-c embedConcurrency=3 gave %d", got)
	}
	if _, err := os.Stat(filepath.Join(other.Dir, StackName+".template.json")); err != nil {
		t.Error(err)
	}
}

func TestResolve(t *testing.T) {
	res := map[string]any{
		"Q":  map[string]any{"Type": "AWS::SQS::Queue"},
		"T":  map[string]any{"Type": "AWS::DynamoDB::Table"},
		"B":  map[string]any{"Type": "AWS::S3::Bucket", "Properties": map[string]any{"BucketName": "given"}},
		"EP": map[string]any{"Type": "AWS::SageMaker::Endpoint"},
	}
	r := newResolver(res)
	for _, tc := range []struct {
		in   any
		want string
	}{
		{map[string]any{"Ref": "Q"}, "https://sqs.us-east-1.amazonaws.com/123456789012/scenedex-Q"},
		{map[string]any{"Fn::GetAtt": []any{"Q", "Arn"}}, "arn:aws:sqs:us-east-1:123456789012:scenedex-Q"},
		{map[string]any{"Fn::GetAtt": []any{"Q", "QueueName"}}, "scenedex-Q"},
		{map[string]any{"Ref": "T"}, "scenedex-T"},
		{map[string]any{"Fn::Join": []any{"", []any{map[string]any{"Fn::GetAtt": []any{"T", "Arn"}}, "/index/*"}}},
			"arn:aws:dynamodb:us-east-1:123456789012:table/scenedex-T/index/*"},
		{map[string]any{"Fn::GetAtt": []any{"B", "Arn"}}, "arn:aws:s3:::given"},
		{map[string]any{"Ref": "EP"}, "arn:aws:sagemaker:us-east-1:123456789012:endpoint/scenedex-ep"},
		{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${Q.QueueName}:${!literal}"}, "arn:aws:x:us-east-1:scenedex-Q:${literal}"},
		{map[string]any{"Fn::Select": []any{1.0, map[string]any{"Fn::Split": []any{"/", "a/b/c"}}}}, "b"},
	} {
		got, err := r.str(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%v = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := r.str(map[string]any{"Ref": "Missing"}); err == nil {
		t.Error("a Ref to no resource resolves")
	}
	if _, err := r.str(map[string]any{"Fn::If": []any{"c", "a", "b"}}); err == nil {
		t.Error("an unsupported intrinsic resolves")
	}
}

func hasGrant(policy []Statement, action, resource string) bool {
	for _, s := range policy {
		if s.Effect == "Allow" && slices.Contains(s.Action, action) && slices.Contains(s.Resource, resource) {
			return true
		}
	}
	return false
}

// TestOnlyTestsImportTheHarness: no package's own code (tests aside)
// imports a harness package, so no harness reaches a binary.
func TestOnlyTestsImportTheHarness(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const harness = "github.com/scenedex/scenedex/harness/"
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 20 {
		t.Fatalf("go list found %d packages", len(lines))
	}
	for _, line := range lines {
		pkg, imports, _ := strings.Cut(line, " ")
		if strings.HasPrefix(pkg, harness) {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, harness) {
				t.Errorf("%s imports %s outside its tests", pkg, imp)
			}
		}
	}
}
