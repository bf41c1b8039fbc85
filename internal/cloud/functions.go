package cloud

import "github.com/scenedex/scenedex/internal/lambdas"

// Spec is one Lambda function's wiring: the variables it cannot start
// without ("A|B": one of them) and the handler it runs.
type Spec struct {
	Required []string
	Handler  func(*lambdas.Functions) any
}

// Functions are the specs by function name (its folder in functions/, whose
// main is Main(name)). The contract test runs each with the environment and
// IAM policy the synthesized stack gives it.
var Functions = map[string]Spec{
	"upload":   {[]string{"BUCKET", "TABLE"}, func(f *lambdas.Functions) any { return lambdas.HTTP(f.API()) }},
	"api":      {[]string{"BUCKET", "TABLE", "OPENSEARCH_ENDPOINT", "EMBEDDING_ENDPOINT|BEDROCK_MODEL_ID"}, func(f *lambdas.Functions) any { return lambdas.HTTP(f.API()) }},
	"start":    {[]string{"STATE_MACHINE_ARN"}, func(f *lambdas.Functions) any { return f.Start }},
	"probe":    {[]string{"BUCKET", "TABLE"}, func(f *lambdas.Functions) any { return f.Probe }},
	"chunk":    {[]string{"BUCKET", "CHUNK_QUEUE_URL", "WINDOW_MAX_RECEIVES", "WINDOW_DLQ_ARN"}, func(f *lambdas.Functions) any { return f.Chunk }},
	"await":    {[]string{"TABLE", "BUCKET", "OPENSEARCH_ENDPOINT"}, func(f *lambdas.Functions) any { return f.Await }},
	"embed":    {[]string{"BUCKET", "TABLE", "OPENSEARCH_ENDPOINT", "EMBEDDING_ENDPOINT|BEDROCK_MODEL_ID"}, func(f *lambdas.Functions) any { return f.Embed }},
	"finalize": {[]string{"TABLE", "BUCKET", "OPENSEARCH_ENDPOINT"}, func(f *lambdas.Functions) any { return f.Finalize }},
	"fail":     {[]string{"BUCKET", "TABLE"}, func(f *lambdas.Functions) any { return f.Fail }},
	"sweep":    {[]string{"BUCKET", "TABLE"}, func(f *lambdas.Functions) any { return f.Sweep }},
	"forget":   {[]string{"BUCKET", "TABLE", "OPENSEARCH_ENDPOINT"}, func(f *lambdas.Functions) any { return f.Forget }},
}

// Main is a function's whole main: Run with its spec.
func Main(name string) {
	spec, ok := Functions[name]
	if !ok {
		panic("cloud: no function " + name)
	}
	Run(spec.Handler, spec.Required...)
}
