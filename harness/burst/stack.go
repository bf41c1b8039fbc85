package burst

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Stack is what the burst needs of a synthesized CloudFormation template,
// with every intrinsic resolved to the harness's local names.
//
// TODO(wt/contract): harness/template parses the synthesized stack; when it
// lands this file gives way to it.
type Stack struct {
	Region, Account string
	Bucket          string // the media bucket's name
	Table           *TableSpec
	Functions       map[string]*FunctionSpec // by name: "chunk", "embed", ...
	Queues          map[string]*QueueSpec    // by logical id
	Mappings        []MappingSpec
	Machine         MachineSpec
	Rules           []RuleSpec
}

// FunctionSpec is one AWS::Lambda::Function.
type FunctionSpec struct {
	Name, LogicalID, Arn string
	Env                  map[string]string
	Reserved             int
	Timeout              int
}

// QueueSpec is one AWS::SQS::Queue.
type QueueSpec struct {
	LogicalID, Name, URL, Arn     string
	VisibilitySecs, RetentionSecs int
	DLQArn                        string
	MaxReceiveCount               int
}

// MappingSpec is one AWS::Lambda::EventSourceMapping on a queue.
type MappingSpec struct {
	QueueArn, Function     string
	BatchSize, WindowSecs  int
	MaxConcurrency         int
	ReportBatchItemFailure bool
}

// MachineSpec is the state machine: its ARN and its definition with the
// DefinitionSubstitutions made.
type MachineSpec struct{ Arn, Definition string }

// RuleSpec is an EventBridge rule: an S3 event pattern or a schedule, and
// the functions it targets.
type RuleSpec struct {
	DetailType, Prefix string
	RateMinutes        int
	Targets            []string // function names
}

// TableSpec is the DynamoDB table's CreateTable-relevant properties.
type TableSpec struct {
	Name  string
	Props map[string]any
}

type resource struct {
	Type       string
	Properties map[string]any
}

// ReadStack reads a synthesized template (cdk.out/<stack>.template.json).
// Names: the bucket is "media"; queues, functions, tables are named by
// their logical ids; endpoint is the harness's single AWS endpoint (queue
// URLs live under it).
func ReadStack(path, endpoint string) (*Stack, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	var tpl struct{ Resources map[string]resource }
	if err := json.Unmarshal(raw, &tpl); err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	s := &Stack{Region: "us-east-1", Account: "123456789012", Bucket: "media", Functions: map[string]*FunctionSpec{}, Queues: map[string]*QueueSpec{}}
	r := &resolver{s: s, res: tpl.Resources, endpoint: endpoint, names: map[string]string{}}
	ids := make([]string, 0, len(tpl.Resources))
	for id := range tpl.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		res := tpl.Resources[id]
		switch res.Type {
		case "AWS::Lambda::Function":
			if name := functionName(id); name != "" {
				s.Functions[name] = &FunctionSpec{Name: name, LogicalID: id, Arn: r.arn("lambda", "function:"+id)}
				r.names[id] = name
			}
		case "AWS::SQS::Queue":
			s.Queues[id] = &QueueSpec{LogicalID: id, Name: id, URL: endpoint + "/" + s.Account + "/" + id, Arn: r.arn("sqs", id)}
		}
	}
	for _, id := range ids {
		res := tpl.Resources[id]
		p := res.Properties
		switch res.Type {
		case "AWS::Lambda::Function":
			f := s.Functions[r.names[id]]
			if f == nil {
				continue
			}
			f.Reserved, f.Timeout = num(p["ReservedConcurrentExecutions"]), num(p["Timeout"])
			f.Env = map[string]string{}
			env, _ := p["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			for k, v := range vars {
				if f.Env[k], err = r.str(v); err != nil {
					return nil, fmt.Errorf("function %s, %s: %w", f.Name, k, err)
				}
			}
		case "AWS::SQS::Queue":
			q := s.Queues[id]
			q.VisibilitySecs, q.RetentionSecs = num(p["VisibilityTimeout"]), num(p["MessageRetentionPeriod"])
			if rp, ok := p["RedrivePolicy"].(map[string]any); ok {
				q.MaxReceiveCount = num(rp["maxReceiveCount"])
				if q.DLQArn, err = r.str(rp["deadLetterTargetArn"]); err != nil {
					return nil, err
				}
			}
		case "AWS::Lambda::EventSourceMapping":
			m := MappingSpec{BatchSize: num(p["BatchSize"]), WindowSecs: num(p["MaximumBatchingWindowInSeconds"])}
			if m.QueueArn, err = r.str(p["EventSourceArn"]); err != nil {
				return nil, err
			}
			if m.Function, err = r.function(p["FunctionName"]); err != nil {
				return nil, err
			}
			if sc, ok := p["ScalingConfig"].(map[string]any); ok {
				m.MaxConcurrency = num(sc["MaximumConcurrency"])
			}
			for _, t := range asList(p["FunctionResponseTypes"]) {
				m.ReportBatchItemFailure = m.ReportBatchItemFailure || t == "ReportBatchItemFailures"
			}
			s.Mappings = append(s.Mappings, m)
		case "AWS::DynamoDB::Table":
			s.Table = &TableSpec{Name: id, Props: p}
		case "AWS::StepFunctions::StateMachine":
			def, err := r.str(p["DefinitionString"])
			if err != nil {
				return nil, fmt.Errorf("state machine: %w", err)
			}
			subs, _ := p["DefinitionSubstitutions"].(map[string]any)
			for k, v := range subs {
				val, err := r.str(v)
				if err != nil {
					return nil, fmt.Errorf("DefinitionSubstitutions %s: %w", k, err)
				}
				def = strings.ReplaceAll(def, "${"+k+"}", val)
			}
			name, _ := p["StateMachineName"].(string)
			if name == "" {
				name = id
			}
			s.Machine = MachineSpec{Arn: r.arn("states", "stateMachine:"+name), Definition: def}
		case "AWS::Events::Rule":
			rule := RuleSpec{}
			if se, ok := p["ScheduleExpression"].(string); ok {
				fmt.Sscanf(se, "rate(%d minutes)", &rule.RateMinutes)
			}
			if pat, ok := p["EventPattern"].(map[string]any); ok {
				if dt := asList(pat["detail-type"]); len(dt) > 0 {
					rule.DetailType, _ = dt[0].(string)
				}
				for _, k := range asList(walk(pat, "detail", "object", "key")) {
					if m, ok := k.(map[string]any); ok {
						rule.Prefix, _ = m["prefix"].(string)
					}
				}
			}
			for _, t := range asList(p["Targets"]) {
				tm, _ := t.(map[string]any)
				if name, err := r.function(tm["Arn"]); err == nil {
					rule.Targets = append(rule.Targets, name)
				}
			}
			if len(rule.Targets) > 0 {
				s.Rules = append(s.Rules, rule)
			}
		}
	}
	if s.Machine.Definition == "" {
		return nil, fmt.Errorf("template %s has no state machine", path)
	}
	return s, nil
}

// functionName maps a function's logical id to its folder under
// functions/ ("Chunk0472747E" -> "chunk"); CDK's own functions get "".
func functionName(id string) string {
	entries, _ := os.ReadDir(functionsDir())
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		rest, ok := strings.CutPrefix(id, strings.ToUpper(name[:1])+name[1:])
		if ok && len(rest) == 8 && strings.ToUpper(rest) == rest {
			return name
		}
	}
	return ""
}

type resolver struct {
	s        *Stack
	res      map[string]resource
	endpoint string
	names    map[string]string
}

func (r *resolver) arn(service, rest string) string {
	sep := ":"
	if service == "sqs" {
		return "arn:aws:sqs:" + r.s.Region + ":" + r.s.Account + ":" + rest
	}
	return "arn:aws:" + service + ":" + r.s.Region + ":" + r.s.Account + sep + rest
}

// function resolves a reference to one of the functions to its name.
func (r *resolver) function(v any) (string, error) {
	m, _ := v.(map[string]any)
	id, _ := m["Ref"].(string)
	if ga := asList(m["Fn::GetAtt"]); len(ga) == 2 {
		id, _ = ga[0].(string)
	}
	if name := r.names[id]; name != "" {
		return name, nil
	}
	return "", fmt.Errorf("%v names none of the functions", v)
}

// str resolves Ref, Fn::GetAtt and Fn::Join to the harness's names.
func (r *resolver) str(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case float64:
		return fmt.Sprint(t), nil
	case map[string]any:
		if ref, ok := t["Ref"].(string); ok {
			return r.ref(ref, "Ref")
		}
		if ga := asList(t["Fn::GetAtt"]); len(ga) == 2 {
			id, _ := ga[0].(string)
			attr, _ := ga[1].(string)
			return r.ref(id, attr)
		}
		if j := asList(t["Fn::Join"]); len(j) == 2 {
			sep, _ := j[0].(string)
			var parts []string
			for _, p := range asList(j[1]) {
				s, err := r.str(p)
				if err != nil {
					return "", err
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, sep), nil
		}
	}
	return "", fmt.Errorf("cannot resolve %v", v)
}

func (r *resolver) ref(id, attr string) (string, error) {
	switch id {
	case "AWS::Partition":
		return "aws", nil
	case "AWS::Region":
		return r.s.Region, nil
	case "AWS::AccountId":
		return r.s.Account, nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	res, ok := r.res[id]
	if !ok {
		return "", fmt.Errorf("no resource %s", id)
	}
	switch res.Type + "." + attr {
	case "AWS::S3::Bucket.Ref":
		return r.s.Bucket, nil
	case "AWS::S3::Bucket.Arn":
		return "arn:aws:s3:::" + r.s.Bucket, nil
	case "AWS::DynamoDB::Table.Ref":
		return id, nil
	case "AWS::DynamoDB::Table.Arn":
		return r.arn("dynamodb", "table/"+id), nil
	case "AWS::SQS::Queue.Ref", "AWS::SQS::Queue.QueueUrl":
		return r.s.Queues[id].URL, nil
	case "AWS::SQS::Queue.Arn":
		return r.s.Queues[id].Arn, nil
	case "AWS::SQS::Queue.QueueName":
		return id, nil
	case "AWS::Lambda::Function.Ref":
		return id, nil
	case "AWS::Lambda::Function.Arn":
		return r.arn("lambda", "function:"+id), nil
	case "AWS::SageMaker::Endpoint.EndpointName":
		return id, nil
	case "AWS::OpenSearchService::Domain.DomainEndpoint":
		return "search.local", nil // the harness points OPENSEARCH_ENDPOINT at its stand-in
	case "AWS::SNS::Topic.Ref", "AWS::SNS::Topic.TopicArn":
		return r.arn("sns", id), nil
	}
	return "", fmt.Errorf("cannot resolve %s of %s (%s)", attr, id, res.Type)
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func walk(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}
