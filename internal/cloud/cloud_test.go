package cloud

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/scenedex/scenedex/internal/bedrock"
	"github.com/scenedex/scenedex/internal/dynamo"
	"github.com/scenedex/scenedex/internal/osindex"
)

func TestReadEnv(t *testing.T) {
	t.Setenv("BUCKET", "media")
	t.Setenv("TABLE", "")
	t.Setenv("CHUNK_SECONDS", "5")
	e, err := ReadEnv("BUCKET")
	if err != nil || e.Bucket != "media" || e.ChunkSeconds != 5 || e.OpenSearchService != "es" || e.FFmpegDir != "/opt/bin" {
		t.Fatalf("env %+v %v", e, err)
	}
	if _, err := ReadEnv("BUCKET", "TABLE"); err == nil || !strings.Contains(err.Error(), "TABLE") {
		t.Fatalf("missing TABLE: %v", err)
	}
	if e.OCR {
		t.Fatal("OCR on without OCR=on")
	}
	t.Setenv("OCR", "on")
	if e, err := ReadEnv(); err != nil || !e.OCR {
		t.Fatalf("OCR=on: %+v %v", e, err)
	}
	t.Setenv("OCR", "yes please")
	if _, err := ReadEnv(); err == nil || !strings.Contains(err.Error(), "OCR") {
		t.Fatalf("bad OCR accepted: %v", err)
	}
	t.Setenv("OCR", "")
	t.Setenv("OPENSEARCH_REPLICAS", "0")
	if e, err := ReadEnv(); err != nil || e.OpenSearchReplicas == nil || *e.OpenSearchReplicas != 0 {
		t.Fatalf("replicas: %+v %v", e, err)
	}
	t.Setenv("OPENSEARCH_REPLICAS", "-1")
	if _, err := ReadEnv(); err == nil {
		t.Fatal("negative replicas accepted")
	}
	t.Setenv("OPENSEARCH_REPLICAS", "")
	if e, err := ReadEnv(); err != nil || e.SearchModelBudget != 8*time.Second {
		t.Fatalf("search budget unset: %v %v, want 8s", e.SearchModelBudget, err)
	}
	t.Setenv("SEARCH_MODEL_BUDGET", "2.5")
	if e, err := ReadEnv(); err != nil || e.SearchModelBudget != 2500*time.Millisecond {
		t.Fatalf("search budget: %v %v", e.SearchModelBudget, err)
	}
	t.Setenv("SEARCH_MODEL_BUDGET", "soon")
	if _, err := ReadEnv(); err == nil || !strings.Contains(err.Error(), "SEARCH_MODEL_BUDGET") {
		t.Fatalf("bad budget accepted: %v", err)
	}
	t.Setenv("SEARCH_MODEL_BUDGET", "")
	t.Setenv("CHUNK_SECONDS", "ten")
	if _, err := ReadEnv(); err == nil {
		t.Fatal("bad CHUNK_SECONDS accepted")
	}
	t.Setenv("CHUNK_SECONDS", "")
	// The chunk function: the window queue's last receive and dead letters.
	t.Setenv("WINDOW_MAX_RECEIVES", "5")
	t.Setenv("WINDOW_DLQ_ARN", "arn:aws:sqs:us-east-1:123456789012:scenedex-WindowsDLQ")
	if e, err := ReadEnv("WINDOW_MAX_RECEIVES"); err != nil || e.WindowMaxReceives != 5 || !strings.HasSuffix(e.WindowDLQARN, "WindowsDLQ") {
		t.Fatalf("window queue: %+v %v", e, err)
	}
	for _, bad := range []string{"0", "five"} {
		t.Setenv("WINDOW_MAX_RECEIVES", bad)
		if _, err := ReadEnv(); err == nil || !strings.Contains(err.Error(), "WINDOW_MAX_RECEIVES") {
			t.Errorf("WINDOW_MAX_RECEIVES=%s: %v", bad, err)
		}
	}
}

// The embed function reads words through the endpoint when OCR=on, and not
// otherwise.
func TestBuildReader(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	for _, on := range []bool{false, true} {
		fns, err := BuildWith(cfg, Env{ModelEndpoint: "ep", OCR: on})
		if err != nil {
			t.Fatal(err)
		}
		if (fns.P.Reader != nil) != on {
			t.Errorf("OCR %v: reader %v", on, fns.P.Reader)
		}
	}
	if fns, _ := BuildWith(cfg, Env{OCR: true}); fns.P.Reader != nil || fns.P.Embedder != nil {
		t.Error("no endpoint, yet a model")
	}
}

// The Lambda functions stay static pure Go: none may depend on ONNX Runtime
// (cgo), which lives in the model server only.
func TestFunctionsStayPureGo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasSuffix(dep, "/internal/onnx") || strings.HasSuffix(dep, "/internal/ocr") || strings.Contains(dep, "onnxruntime_go") {
			t.Errorf("a function depends on %s", dep)
		}
	}
}

// TestBuildFunctions runs the build script `make build` uses and checks every
// bootstrap is a static, stripped-of-interpreter ELF for arm64 (Lambda's
// provided.al2023 on Graviton), zipped.
func TestBuildFunctions(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles every function")
	}
	if _, err := exec.LookPath("zip"); err != nil {
		t.Skip("zip not installed")
	}
	out := t.TempDir()
	cmd := exec.Command("../../scripts/build-functions.sh")
	cmd.Env = append(os.Environ(), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	fns, _ := filepath.Glob("../../functions/*/main.go")
	for i, f := range fns {
		fns[i] = filepath.Dir(f)
	}
	if len(fns) < 8 {
		t.Fatalf("only %d functions", len(fns))
	}
	for _, fn := range fns {
		name := filepath.Base(fn)
		f, err := elf.Open(filepath.Join(out, name, "bootstrap"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
			t.Errorf("%s: machine %v class %v", name, f.Machine, f.Class)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked", name)
			}
		}
		f.Close()
		if st, err := os.Stat(filepath.Join(out, name+".zip")); err != nil || st.Size() == 0 {
			t.Errorf("%s.zip: %v", name, err)
		}
	}
}

// EMBEDDER by Bedrock: the embed and api functions need either a SageMaker
// endpoint or a Bedrock model, and with Bedrock no OCR reader (Titan has no
// OCR form) and the configured length.
func TestBuildBedrock(t *testing.T) {
	t.Setenv("EMBEDDING_ENDPOINT", "")
	t.Setenv("BEDROCK_MODEL_ID", "")
	if _, err := ReadEnv("EMBEDDING_ENDPOINT|BEDROCK_MODEL_ID"); err == nil || !strings.Contains(err.Error(), "EMBEDDING_ENDPOINT or BEDROCK_MODEL_ID") {
		t.Fatalf("neither: %v", err)
	}
	t.Setenv("BEDROCK_MODEL_ID", "amazon.titan-embed-image-v1")
	t.Setenv("EMBEDDING_DIM", "384")
	e, err := ReadEnv("EMBEDDING_ENDPOINT|BEDROCK_MODEL_ID")
	if err != nil || e.EmbeddingDim != 384 {
		t.Fatalf("bedrock env %+v %v", e, err)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	e.OCR = true
	fns, err := BuildWith(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := fns.P.Embedder.(*bedrock.Embedder)
	if !ok || b.Dim != 384 || b.ModelID != "amazon.titan-embed-image-v1" || fns.P.Reader != nil {
		t.Errorf("embedder %T %+v, reader %v", fns.P.Embedder, fns.P.Embedder, fns.P.Reader)
	}
	e.EmbeddingDim = 512
	if _, err := BuildWith(cfg, e); err == nil {
		t.Error("a length Titan does not answer was accepted")
	}
}

// With the catalog's table, the index is the switching one (its state a
// record of the table) and the endpoint serves models by name: a model
// switch works in the cloud. Bedrock serves one model: no switch.
func TestBuildModelSwitch(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	fns, err := BuildWith(cfg, Env{ModelEndpoint: "ep", Table: "t", OpenSearchEndpoint: "https://search.example", OpenSearchService: "es",
		OpenSearchIndex: "scenedex-chunks"})
	if err != nil {
		t.Fatal(err)
	}
	sw, ok := fns.P.Index.(*osindex.Switching)
	if !ok || sw.Base.Name != "scenedex-chunks" || fns.P.Models == nil {
		t.Fatalf("index %T, models %v", fns.P.Index, fns.P.Models)
	}
	if _, ok := sw.Store.(*dynamo.Catalog); !ok {
		t.Errorf("state store %T", sw.Store)
	}
	fns, err = BuildWith(cfg, Env{BedrockModel: "amazon.titan-embed-image-v1", EmbeddingDim: 384, Table: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if fns.P.Models != nil {
		t.Errorf("bedrock: models %v", fns.P.Models)
	}
}

// Every function folder has a spec and its main runs it by its own name.
func TestEveryFunctionHasASpec(t *testing.T) {
	mains, _ := filepath.Glob("../../functions/*/main.go")
	if len(mains) != len(Functions) {
		t.Errorf("%d functions, %d specs", len(mains), len(Functions))
	}
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		if _, ok := Functions[name]; !ok {
			t.Errorf("functions/%s has no spec", name)
		}
		b, _ := os.ReadFile(m)
		if !strings.Contains(string(b), `cloud.Main("`+name+`")`) {
			t.Errorf("functions/%s/main.go does not run cloud.Main(%q)", name, name)
		}
	}
}
