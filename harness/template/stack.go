package template

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/scenedex/scenedex/internal/awsfake"
)

// Stack is the synthesized template, read for the harness.
type Stack struct {
	Dir       string                   // the cdk.out folder
	Template  map[string]any           // the raw CloudFormation template
	Functions map[string]*Function     // by name in functions/ (CDK's own helper functions are left out)
	Queues    map[string]*Queue        // by logical id
	Machines  map[string]*StateMachine // by logical id
	resolve   *resolver
}

// Function is one Lambda function as the template deploys it.
type Function struct {
	Name      string // its folder in functions/
	LogicalID string
	ARN       string            // fake physical ARN
	Env       map[string]string // Environment.Variables, intrinsics resolved
	// Policy holds the statements of the inline AWS::IAM::Policy resources
	// attached to the function's role (identity-based policies).
	Policy []Statement
	// ManagedPolicies are the role's managed policy ARNs: noted, not
	// expanded (AWSLambdaBasicExecutionRole allows logs only).
	ManagedPolicies     []string
	TimeoutSeconds      int
	MemoryMB            int
	ReservedConcurrency *int // nil: none reserved
	EventSources        []EventSource
}

// Statement is one IAM policy statement (IAM JSON policy elements: Effect,
// Action/NotAction, Resource/NotResource, Condition), intrinsics resolved.
type Statement struct {
	Sid         string
	Effect      string
	Action      []string
	NotAction   []string
	Resource    []string
	NotResource []string
	// Condition is operator -> key -> values, e.g.
	// "ForAllValues:StringEquals" -> "dynamodb:LeadingKeys" -> [...].
	Condition map[string]map[string][]string
}

// EventSource is an AWS::Lambda::EventSourceMapping of a function.
type EventSource struct {
	LogicalID             string
	QueueARN              string // EventSourceArn
	BatchSize             int
	MaxBatchingWindowSecs int
	MaximumConcurrency    int // ScalingConfig.MaximumConcurrency; 0: unset
	FunctionResponseTypes []string
}

// Queue is an AWS::SQS::Queue.
type Queue struct {
	LogicalID, Name, URL, ARN string
	VisibilityTimeoutSecs     int // default 30 (SQS CreateQueue)
	RetentionSecs             int // default 345600 (4 days)
	MaxReceiveCount           int // RedrivePolicy; 0: no dead-letter queue
	DeadLetterARN             string
}

// StateMachine is an AWS::StepFunctions::StateMachine with its definition's
// DefinitionSubstitutions resolved.
type StateMachine struct {
	LogicalID, Name, ARN string
	Definition           string
}

// Parse reads a cdk.out folder's template (one stack, StackName).
func Parse(dir string) (*Stack, error) {
	var tpl map[string]any
	if err := readJSON(filepath.Join(dir, StackName+".template.json"), &tpl); err != nil {
		return nil, fmt.Errorf("template: read: %w", err)
	}
	res, _ := tpl["Resources"].(map[string]any)
	st := &Stack{Dir: dir, Template: tpl, Functions: map[string]*Function{}, Queues: map[string]*Queue{},
		Machines: map[string]*StateMachine{}, resolve: newResolver(res)}
	r := st.resolve
	roleOf := map[string]*Function{}
	for _, id := range sortedKeys(res) {
		typ, props, meta := resource(res, id)
		switch typ {
		case "AWS::Lambda::Function":
			name := functionName(dir, meta)
			if name == "" {
				continue
			}
			fn, err := st.function(id, name, props)
			if err != nil {
				return nil, err
			}
			st.Functions[name] = fn
			if role, ok := get(props, "Role", "Fn::GetAtt", 0).(string); ok {
				roleOf[role] = fn
			}
		case "AWS::SQS::Queue":
			q := &Queue{LogicalID: id, Name: r.physicalName(id), URL: r.queueURL(id), ARN: r.arn(id),
				VisibilityTimeoutSecs: 30, RetentionSecs: 345600}
			if v, ok := num(props["VisibilityTimeout"]); ok {
				q.VisibilityTimeoutSecs = v
			}
			if v, ok := num(props["MessageRetentionPeriod"]); ok {
				q.RetentionSecs = v
			}
			if rp, ok := props["RedrivePolicy"].(map[string]any); ok {
				q.MaxReceiveCount, _ = num(rp["maxReceiveCount"])
				arn, err := r.str(rp["deadLetterTargetArn"])
				if err != nil {
					return nil, fmt.Errorf("template: queue %s: %w", id, err)
				}
				q.DeadLetterARN = arn
			}
			st.Queues[id] = q
		case "AWS::StepFunctions::StateMachine":
			m, err := st.machine(id, props)
			if err != nil {
				return nil, err
			}
			st.Machines[id] = m
		}
	}
	// Second pass: what refers to the functions.
	for _, id := range sortedKeys(res) {
		typ, props, _ := resource(res, id)
		switch typ {
		case "AWS::IAM::Policy":
			roles, _ := props["Roles"].([]any)
			for _, role := range roles {
				fn := roleOf[fmt.Sprint(get(role, "Ref"))]
				if fn == nil {
					continue
				}
				stmts, err := r.statements(get(props, "PolicyDocument", "Statement"))
				if err != nil {
					return nil, fmt.Errorf("template: policy %s of %s: %w", id, fn.Name, err)
				}
				fn.Policy = append(fn.Policy, stmts...)
			}
		case "AWS::IAM::Role":
			fn := roleOf[id]
			if fn == nil {
				continue
			}
			managed, _ := props["ManagedPolicyArns"].([]any)
			for _, m := range managed {
				arn, err := r.str(m)
				if err != nil {
					return nil, fmt.Errorf("template: role %s: %w", id, err)
				}
				fn.ManagedPolicies = append(fn.ManagedPolicies, arn)
			}
			if inline, ok := props["Policies"].([]any); ok {
				for _, p := range inline {
					stmts, err := r.statements(get(p, "PolicyDocument", "Statement"))
					if err != nil {
						return nil, fmt.Errorf("template: role %s: %w", id, err)
					}
					fn.Policy = append(fn.Policy, stmts...)
				}
			}
		case "AWS::Lambda::EventSourceMapping":
			target := fmt.Sprint(get(props, "FunctionName", "Ref"))
			for _, fn := range st.Functions {
				if fn.LogicalID != target {
					continue
				}
				arn, err := r.str(props["EventSourceArn"])
				if err != nil {
					return nil, fmt.Errorf("template: event source %s: %w", id, err)
				}
				es := EventSource{LogicalID: id, QueueARN: arn, BatchSize: 10}
				if v, ok := num(props["BatchSize"]); ok {
					es.BatchSize = v
				}
				es.MaxBatchingWindowSecs, _ = num(props["MaximumBatchingWindowInSeconds"])
				es.MaximumConcurrency, _ = num(get(props, "ScalingConfig", "MaximumConcurrency"))
				es.FunctionResponseTypes = strings1(props["FunctionResponseTypes"])
				fn.EventSources = append(fn.EventSources, es)
			}
		}
	}
	return st, nil
}

func (st *Stack) function(id, name string, props map[string]any) (*Function, error) {
	r := st.resolve
	fn := &Function{Name: name, LogicalID: id, ARN: r.arn(id), Env: map[string]string{}, TimeoutSeconds: 3, MemoryMB: 128}
	if v, ok := num(props["Timeout"]); ok {
		fn.TimeoutSeconds = v
	}
	if v, ok := num(props["MemorySize"]); ok {
		fn.MemoryMB = v
	}
	if v, ok := num(props["ReservedConcurrentExecutions"]); ok {
		fn.ReservedConcurrency = &v
	}
	vars, _ := get(props, "Environment", "Variables").(map[string]any)
	for k, v := range vars {
		s, err := r.str(v)
		if err != nil {
			return nil, fmt.Errorf("template: %s's %s: %w", name, k, err)
		}
		fn.Env[k] = s
	}
	return fn, nil
}

func (st *Stack) machine(id string, props map[string]any) (*StateMachine, error) {
	r := st.resolve
	def, err := r.str(props["DefinitionString"])
	if err != nil {
		return nil, fmt.Errorf("template: state machine %s: %w", id, err)
	}
	subs, _ := props["DefinitionSubstitutions"].(map[string]any)
	for _, k := range sortedKeys(subs) {
		v, err := r.str(subs[k])
		if err != nil {
			return nil, fmt.Errorf("template: state machine %s: substitution %s: %w", id, k, err)
		}
		def = strings.ReplaceAll(def, "${"+k+"}", v)
	}
	return &StateMachine{LogicalID: id, Name: r.physicalName(id), ARN: r.arn(id), Definition: def}, nil
}

// Machine returns the stack's one state machine.
func (st *Stack) Machine() (*StateMachine, error) {
	if len(st.Machines) != 1 {
		return nil, fmt.Errorf("template: %d state machines, want 1", len(st.Machines))
	}
	for _, m := range st.Machines {
		return m, nil
	}
	return nil, nil
}

// QueueByARN returns the queue with that (fake) ARN, or nil.
func (st *Stack) QueueByARN(arn string) *Queue {
	for _, q := range st.Queues {
		if q.ARN == arn {
			return q
		}
	}
	return nil
}

// QueueByURL returns the queue with that (fake) URL, or nil.
func (st *Stack) QueueByURL(url string) *Queue {
	for _, q := range st.Queues {
		if q.URL == url {
			return q
		}
	}
	return nil
}

// Resolve resolves a template value (intrinsics and all) as the harness's
// fake physical ids.
func (st *Stack) Resolve(v any) (any, error) { return st.resolve.value(v) }

// functionName reads the function's name back from its staged Code asset
// (the stand-in bootstrap Synthesize wrote). "" for other functions.
func functionName(dir string, meta map[string]any) string {
	if meta["aws:asset:property"] != "Code" {
		return ""
	}
	p, _ := meta["aws:asset:path"].(string)
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	b, err := os.ReadFile(filepath.Join(p, "bootstrap"))
	if err != nil {
		return ""
	}
	name, ok := strings.CutPrefix(string(b), standIn(""))
	if !ok {
		return ""
	}
	return name
}

func resource(res map[string]any, id string) (typ string, props, meta map[string]any) {
	r, _ := res[id].(map[string]any)
	typ, _ = r["Type"].(string)
	props, _ = r["Properties"].(map[string]any)
	meta, _ = r["Metadata"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	return typ, props, meta
}

// get walks a decoded JSON value (awsfake's helper).
func get(v any, path ...any) any { return awsfake.Field(v, path...) }

func num(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		return int(n), true
	case string:
		var i int
		_, err := fmt.Sscan(n, &i)
		return i, err == nil
	}
	return 0, false
}

func strings1(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// String shows a statement as IAM JSON (for failure messages).
func (s Statement) String() string {
	m := map[string]any{"Effect": s.Effect}
	put := func(k string, v []string) {
		if len(v) > 0 {
			m[k] = v
		}
	}
	put("Action", s.Action)
	put("NotAction", s.NotAction)
	put("Resource", s.Resource)
	put("NotResource", s.NotResource)
	if len(s.Condition) > 0 {
		m["Condition"] = s.Condition
	}
	b, _ := json.Marshal(m)
	return string(b)
}
