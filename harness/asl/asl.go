// Package asl is a test harness: an interpreter of the subset of the Amazon
// States Language that scenedex's state machine uses, on a virtual clock
// (harness/sim), so a synthesized definition can run against real handlers
// with hours of retries and waits passing in seconds.
//
// Sources, quoted in the comments where each rule is applied:
//   - the States Language spec, https://states-language.net/spec.html
//   - the Step Functions developer guide, error handling:
//     https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
//   - the Step Functions API reference (SendTaskSuccess, SendTaskFailure,
//     SendTaskHeartbeat, StartExecution).
//
// What it runs: Task (a Lambda function ARN; arn:aws:states:::lambda:invoke
// with and without .waitForTaskToken; arn:aws:states:::sqs:sendMessage
// .waitForTaskToken), Map (inline), Choice, Pass, Succeed, Fail; InputPath,
// Parameters, ItemSelector, ResultSelector, ResultPath, OutputPath; Retry,
// Catch, TimeoutSeconds, HeartbeatSeconds. What it does not: Parallel, Wait,
// distributed Map, intrinsic functions, JSONata — a definition using them is
// refused or fails loudly rather than run wrongly.
package asl

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"sync"
	"time"

	"github.com/scenedex/scenedex/harness/sim"
)

// Error is a States Language error: a name and a cause.
type Error struct {
	Name  string `json:"Error"`
	Cause string `json:"Cause"`
}

func (e *Error) Error() string { return e.Name + ": " + e.Cause }

// Errors the interpreter raises, named as the spec's Appendix A lists them.
const (
	ErrAll            = "States.ALL"
	ErrTaskFailed     = "States.TaskFailed"
	ErrTimeout        = "States.Timeout"
	ErrHeartbeat      = "States.HeartbeatTimeout"
	ErrNoChoice       = "States.NoChoiceMatched"
	ErrParameterPath  = "States.ParameterPathFailure"
	ErrResultPath     = "States.ResultPathMatchFailure"
	ErrRuntime        = "States.Runtime"
	MaxHistoryEvents  = 25000
	defaultTaskTimout = 99999999
)

// Integrations are the services a Task state calls.
type Integrations interface {
	// Invoke runs a Lambda function (name or ARN) with payload, and calls
	// done once with its output or its error (the function's error type as
	// Name, or a Lambda service error such as Lambda.TooManyRequestsException).
	Invoke(function string, payload []byte, done func(out []byte, err *Error))
	// SendMessage sends body to an SQS queue and calls done once.
	SendMessage(queueURL, body string, done func(err *Error))
}

// Status of an execution.
type Status string

const (
	Running   Status = "RUNNING"
	Succeeded Status = "SUCCEEDED"
	Failed    Status = "FAILED"
	TimedOut  Status = "TIMED_OUT"
)

// Execution is one run.
type Execution struct {
	Arn, Name string
	Input     string
	Started   time.Time
	mu        sync.Mutex
	status    Status
	output    any
	err       *Error
	history   int
}

// Result is the execution's status, output and error.
func (x *Execution) Result() (Status, any, *Error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.status, x.output, x.err
}

// Engine runs state machines.
type Engine struct {
	Sim  *sim.Sim
	Svc  Integrations
	Rand *rand.Rand // backoff jitter; guarded by mu
	// OnClose is called when an execution ends (optional).
	OnClose func(*Execution)

	mu       sync.Mutex
	machines map[string]*machine
	runs     map[string]*Execution // by ARN
	tokens   map[string]*waiting
	closed   map[string]bool // tokens of tasks that ended
	nextTok  int
}

// NewEngine returns an engine on s calling svc.
func NewEngine(s *sim.Sim, svc Integrations, seed int64) *Engine {
	return &Engine{Sim: s, Svc: svc, Rand: rand.New(rand.NewSource(seed)), machines: map[string]*machine{},
		runs: map[string]*Execution{}, tokens: map[string]*waiting{}, closed: map[string]bool{}}
}

type machine struct {
	arn, name string
	def       *stateMachine
}

// Define registers a definition under arn; it is checked for the states and
// fields this interpreter knows.
func (e *Engine) Define(arn, definition string) error {
	def, err := parse(definition)
	if err != nil {
		return fmt.Errorf("state machine %s: %w", arn, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.machines[arn] = &machine{arn: arn, name: arn[strings.LastIndexByte(arn, ':')+1:], def: def}
	return nil
}

// Executions returns every execution started.
func (e *Engine) Executions() []*Execution {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Execution, 0, len(e.runs))
	for _, x := range e.runs {
		out = append(out, x)
	}
	return out
}

// Start starts an execution. As StartExecution documents: "If the
// execution is already running with the same name and input, the call
// succeeds (idempotent); a name in use otherwise raises
// ExecutionAlreadyExists" — names of closed executions stay taken too
// (Standard workflows, 90 days).
func (e *Engine) Start(machineArn, name, input string) (string, *Error) {
	e.mu.Lock()
	m := e.machines[machineArn]
	if m == nil {
		e.mu.Unlock()
		return "", &Error{Name: "StateMachineDoesNotExist", Cause: machineArn}
	}
	arn := strings.Replace(machineArn, ":stateMachine:", ":execution:", 1) + ":" + name
	if x, ok := e.runs[arn]; ok {
		e.mu.Unlock()
		x.mu.Lock()
		same := x.status == Running && x.Input == input
		x.mu.Unlock()
		if same {
			return arn, nil
		}
		return "", &Error{Name: "ExecutionAlreadyExists", Cause: "Execution Already Exists: '" + arn + "'"}
	}
	var in any
	if err := json.Unmarshal([]byte(input), &in); err != nil {
		e.mu.Unlock()
		return "", &Error{Name: "InvalidExecutionInput", Cause: err.Error()}
	}
	x := &Execution{Arn: arn, Name: name, Input: input, Started: e.Sim.Now(), status: Running}
	e.runs[arn] = x
	e.mu.Unlock()
	ctx := map[string]any{
		"Execution":    map[string]any{"Id": arn, "Name": name, "Input": in, "StartTime": x.Started.UTC().Format(time.RFC3339Nano)},
		"StateMachine": map[string]any{"Id": machineArn, "Name": m.name},
	}
	r := &run{e: e, x: x}
	if t := m.def.TimeoutSeconds; t > 0 {
		// Top-level TimeoutSeconds: "the maximum number of seconds an
		// execution of the state machine can run; if it runs longer, the
		// execution fails with a States.Timeout error" (spec, "Top-level fields").
		r.stopTimeout = e.Sim.Timer(time.Duration(t)*time.Second, func() {
			r.close(nil, &Error{Name: ErrTimeout, Cause: "execution timed out"}, TimedOut)
		})
	}
	e.Sim.At(0, func() {
		r.states(m.def.States, m.def.StartAt, in, ctx, func(out any, err *Error) { r.close(out, err, "") })
	})
	return arn, nil
}

// run is one execution's interpreter.
type run struct {
	e           *Engine
	x           *Execution
	stopTimeout func()
}

func (r *run) over() bool {
	r.x.mu.Lock()
	defer r.x.mu.Unlock()
	return r.x.status != Running
}

func (r *run) close(out any, err *Error, st Status) {
	r.x.mu.Lock()
	if r.x.status != Running {
		r.x.mu.Unlock()
		return
	}
	switch {
	case st != "":
		r.x.status = st
	case err != nil:
		r.x.status = Failed
	default:
		r.x.status = Succeeded
	}
	r.x.output, r.x.err = out, err
	r.x.mu.Unlock()
	if r.stopTimeout != nil {
		r.stopTimeout()
	}
	if r.e.OnClose != nil {
		r.e.OnClose(r.x)
	}
}

// events counts history events; past the quota the execution fails. The
// developer guide's quotas page: "Maximum execution history size: 25,000
// events in a single state machine execution history. ... the execution
// fails." The count is rough: per state entered/exited, per task
// scheduled/started/ended, per Map iteration started/ended.
func (r *run) events(n int) bool {
	r.x.mu.Lock()
	r.x.history += n
	over := r.x.history > MaxHistoryEvents
	r.x.mu.Unlock()
	if over {
		r.close(nil, &Error{Name: ErrRuntime, Cause: fmt.Sprintf("the execution history passed %d events", MaxHistoryEvents)}, "")
	}
	return over
}

// History is the rough count of history events so far.
func (x *Execution) History() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.history
}

// states runs a States object from start until a terminal state.
func (r *run) states(states map[string]*state, name string, input, ctx any, done func(any, *Error)) {
	if r.over() {
		return // the execution ended (timeout, history): nothing more runs
	}
	st := states[name]
	if r.events(2) {
		return
	}
	next := func(out any, err *Error, to string) {
		switch {
		case err != nil:
			done(nil, err)
		case to == "":
			done(out, nil)
		default:
			r.states(states, to, out, ctx, done)
		}
	}
	ctx = withState(ctx, name, r.e.Sim.Now())
	switch st.Type {
	case "Pass":
		out, err := r.pass(st, input, ctx)
		next(out, err, st.Next)
	case "Succeed":
		// "The Succeed State's output is the same as its input" (after
		// InputPath/OutputPath).
		out, err := r.filter(st.InputPath, input, ctx)
		if err == nil {
			out, err = r.filter(st.OutputPath, out, ctx)
		}
		next(out, err, "")
	case "Fail":
		done(nil, &Error{Name: st.Error, Cause: st.Cause})
	case "Choice":
		to, out, err := r.choice(st, input, ctx)
		next(out, err, to)
	case "Task", "Map":
		r.retrying(st, input, ctx, func(out any, err *Error, to string) { next(out, err, to) })
	default:
		done(nil, &Error{Name: ErrRuntime, Cause: "state type " + st.Type + " is not supported"})
	}
}

func withState(ctx any, name string, now time.Time) map[string]any {
	c := copyMap(ctx)
	c["State"] = map[string]any{"Name": name, "EnteredTime": now.UTC().Format(time.RFC3339Nano)}
	return c
}

func copyMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// filter applies InputPath or OutputPath: "If the value of InputPath is null,
// that means that the raw input is discarded, and the effective input for
// the state is an empty JSON object, {}" and likewise for OutputPath; unset,
// they default to "$" (spec, "Input and Output Processing").
func (r *run) filter(p *string, data, ctx any) (any, *Error) {
	if p == nil {
		return data, nil
	}
	if *p == "" {
		return map[string]any{}, nil
	}
	v, err := get(*p, data, ctx)
	if err != nil {
		return nil, &Error{Name: ErrRuntime, Cause: err.Error()}
	}
	return v, nil
}

// output is a Task's or Map's output from its result: ResultSelector, then
// ResultPath and OutputPath (spec, "Input and Output Processing").
func (r *run) output(st *state, input, res, ctx any) (any, *Error) {
	if st.ResultSelector != nil {
		v, err := payload(st.ResultSelector, res, ctx)
		if err != nil {
			return nil, &Error{Name: ErrParameterPath, Cause: err.Error()}
		}
		res = v
	}
	return r.result(st, input, res, ctx)
}

// result combines the raw input and a result through ResultPath: "If the
// value of ResultPath is null, that means that the state's result is
// discarded and its raw input becomes its output" (spec).
func (r *run) result(st *state, input, res, ctx any) (any, *Error) {
	out, err := resultPath(st.ResultPath, input, res)
	if err != nil {
		return nil, err
	}
	return r.filter(st.OutputPath, out, ctx)
}

// resultPath places res in input at p (nil: "$", the result replaces the
// input; "": JSON null, the input is kept).
func resultPath(p *string, input, res any) (any, *Error) {
	switch {
	case p == nil:
		return res, nil
	case *p == "":
		return input, nil
	}
	v, err := set(*p, input, res)
	if err != nil {
		return nil, &Error{Name: ErrResultPath, Cause: err.Error()}
	}
	return v, nil
}

func (r *run) pass(st *state, input, ctx any) (any, *Error) {
	eff, err := r.filter(st.InputPath, input, ctx)
	if err != nil {
		return nil, err
	}
	res := eff
	if st.Parameters != nil {
		v, perr := payload(st.Parameters, eff, ctx)
		if perr != nil {
			return nil, &Error{Name: ErrParameterPath, Cause: perr.Error()}
		}
		res = v
	}
	if st.Result != nil {
		// "the Pass State's Result field, if present, is treated as the
		// output of a virtual task" (spec, "Pass State").
		res = st.Result
	}
	return r.result(st, input, res, ctx)
}

// retrying runs a Task or Map with its Retry and Catch fields.
func (r *run) retrying(st *state, input, ctx any, done func(any, *Error, string)) {
	counts := make([]int, len(st.Retry))
	var attempt func()
	attempt = func() {
		if r.over() {
			return
		}
		work := r.task
		if st.Type == "Map" {
			work = r.mapState
		}
		work(st, input, ctx, func(out any, err *Error) {
			if err == nil {
				done(out, nil, st.Next)
				return
			}
			// "When a state reports an error, the interpreter scans through
			// the Retriers and, when the Error Name appears in the value of
			// a Retrier's ErrorEquals field, implements the retry policy
			// described in that Retrier" — the first match only (spec,
			// "Retrying after error").
			for i, rt := range st.Retry {
				if !matches(rt.ErrorEquals, err.Name) {
					continue
				}
				if counts[i] >= rt.maxAttempts() {
					break // "the retry policy is exhausted": on to the Catchers
				}
				delay := rt.delay(counts[i], r.e)
				counts[i]++
				r.events(1)
				r.e.Sim.At(delay, attempt)
				return
			}
			// "When a state reports an error and either there is no Retrier,
			// or retries have failed to resolve the error, the interpreter
			// scans through the Catchers in array order, and when the Error
			// Name appears in the value of a Catcher's ErrorEquals field,
			// transitions the machine to the state named in the value of the
			// Next field" with the error output placed per its ResultPath
			// (spec, "Fallback states").
			for _, c := range st.Catch {
				if !matches(c.ErrorEquals, err.Name) {
					continue
				}
				out, perr := resultPath(c.ResultPath, input, map[string]any{"Error": err.Name, "Cause": err.Cause})
				if perr != nil {
					done(nil, perr, "")
					return
				}
				done(out, nil, c.Next)
				return
			}
			done(nil, err, "")
		})
	}
	attempt()
}

// matches is ErrorEquals. "States.ALL ... matches any known error name"
// except the terminal States.DataLimitExceeded and States.Runtime; and
// "States.TaskFailed acts as a wildcard that matches any known error name
// except for States.Timeout" (developer guide, "Error names").
func matches(names []string, err string) bool {
	for _, n := range names {
		switch {
		case n == err:
			return true
		case n == ErrAll && err != ErrRuntime && err != "States.DataLimitExceeded":
			return true
		case n == ErrTaskFailed && err != ErrTimeout && err != ErrRuntime && err != "States.DataLimitExceeded":
			return true
		}
	}
	return false
}

// delay of the retry after `done` earlier retries. The spec: "IntervalSeconds
// ... represents the number of seconds before the first retry attempt
// (default 1)"; "BackoffRate, a number which is the multiplier that increases
// the retry interval on each attempt (default 2.0)". The developer guide adds
// MaxDelaySeconds, "the maximum value in seconds up to which a retry
// interval can increase", and JitterStrategy FULL, which "randomizes the
// delay between retry attempts" between 0 and the computed interval.
func (rt *retrier) delay(done int, e *Engine) time.Duration {
	iv := 1.0
	if rt.IntervalSeconds != nil {
		iv = *rt.IntervalSeconds
	}
	rate := 2.0
	if rt.BackoffRate != nil {
		rate = *rt.BackoffRate
	}
	d := iv * math.Pow(rate, float64(done))
	if rt.MaxDelaySeconds != nil && d > *rt.MaxDelaySeconds {
		d = *rt.MaxDelaySeconds
	}
	if rt.JitterStrategy == "FULL" {
		e.mu.Lock()
		d *= e.Rand.Float64()
		e.mu.Unlock()
	}
	return time.Duration(d * float64(time.Second))
}

// maxAttempts: "MaxAttempts ... the maximum number of retry attempts
// (default 3). A value of zero means that the error should never be retried."
func (rt *retrier) maxAttempts() int {
	if rt.MaxAttempts == nil {
		return 3
	}
	return *rt.MaxAttempts
}
