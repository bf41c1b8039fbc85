package asl

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scenedex/scenedex/harness/sim"
)

// fakeLambda stands in for Lambda in these tests only (the burst harness
// runs the real handlers): each function is a Go func answering at once or
// after a virtual duration. It records the virtual instant of every call.
type fakeLambda struct {
	s     *sim.Sim
	mu    sync.Mutex
	fns   map[string]func(in map[string]any) (any, *Error)
	took  time.Duration
	calls map[string][]time.Duration
	sent  []string
	live  int
	most  int
}

func (f *fakeLambda) Invoke(fn string, payload []byte, done func([]byte, *Error)) {
	var in map[string]any
	json.Unmarshal(payload, &in)
	f.mu.Lock()
	f.calls[fn] = append(f.calls[fn], f.s.Elapsed())
	f.live++
	f.most = max(f.most, f.live)
	h := f.fns[fn]
	f.mu.Unlock()
	out, err := h(in)
	f.s.At(f.took, func() {
		f.mu.Lock()
		f.live--
		f.mu.Unlock()
		b, _ := json.Marshal(out)
		done(b, err)
	})
}

func (f *fakeLambda) SendMessage(url, body string, done func(*Error)) {
	f.mu.Lock()
	f.sent = append(f.sent, body)
	f.mu.Unlock()
	done(nil)
}

func setup(t *testing.T, def string, fns map[string]func(map[string]any) (any, *Error)) (*Engine, *fakeLambda) {
	t.Helper()
	s := sim.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := &fakeLambda{s: s, fns: fns, calls: map[string][]time.Duration{}}
	e := NewEngine(s, f, 1)
	if err := e.Define("arn:aws:states:us-east-1:123456789012:stateMachine:m", def); err != nil {
		t.Fatal(err)
	}
	return e, f
}

func execute(t *testing.T, e *Engine, input string) *Execution {
	t.Helper()
	arn, err := e.Start("arn:aws:states:us-east-1:123456789012:stateMachine:m", "x", input)
	if err != nil {
		t.Fatal(err)
	}
	e.Sim.Run(context.Background(), func() bool { return false })
	for _, x := range e.Executions() {
		if x.Arn == arn {
			return x
		}
	}
	t.Fatal("execution lost")
	return nil
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The spec's "Input and Output Processing" example: InputPath picks
// $.numbers for the task, ResultPath puts its result at $.sum of the raw
// input, OutputPath keeps everything.
func TestSpecInputOutputExample(t *testing.T) {
	def := `{"StartAt":"Add","States":{"Add":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:add",
		"InputPath":"$.numbers","ResultPath":"$.sum","End":true}}}`
	e, _ := setup(t, def, map[string]func(map[string]any) (any, *Error){
		"arn:aws:lambda:us-east-1:123456789012:function:add": func(in map[string]any) (any, *Error) {
			return in["val1"].(float64) + in["val2"].(float64), nil
		}})
	x := execute(t, e, `{"title":"Numbers to add","numbers":{"val1":3,"val2":4}}`)
	st, out, err := x.Result()
	if st != Succeeded || err != nil {
		t.Fatalf("status %s, error %v", st, err)
	}
	if got, want := jsonOf(t, out), `{"numbers":{"val1":3,"val2":4},"sum":7,"title":"Numbers to add"}`; got != want {
		t.Fatalf("output %s, want %s", got, want)
	}
}

// Parameters with ".$" fields and the context object; ResultPath null keeps
// the input; OutputPath narrows; lambda:invoke wraps the output in Payload
// and ResultSelector picks it.
func TestParametersContextAndSelectors(t *testing.T) {
	def := `{"StartAt":"Call","States":{
		"Call":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
			"Parameters":{"FunctionName":"f","Payload":{"who.$":"$.name","run.$":"$$.Execution.Name","fixed":"v"}},
			"ResultSelector":{"echo.$":"$.Payload"},"ResultPath":"$.got","Next":"Keep"},
		"Keep":{"Type":"Pass","Result":{"ignored":true},"ResultPath":null,"OutputPath":"$.got","End":true}}}`
	e, _ := setup(t, def, map[string]func(map[string]any) (any, *Error){
		"f": func(in map[string]any) (any, *Error) { return in, nil }})
	x := execute(t, e, `{"name":"ada"}`)
	_, out, err := x.Result()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonOf(t, out), `{"echo":{"fixed":"v","run":"x","who":"ada"}}`; got != want {
		t.Fatalf("output %s, want %s", got, want)
	}
}

// Retry as the spec's rules give it: IntervalSeconds before the first
// retry, times BackoffRate on each next one, MaxDelaySeconds caps it, and
// after MaxAttempts the Catcher takes the error with its ResultPath.
func TestRetryBackoffThenCatch(t *testing.T) {
	def := `{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:t",
			"Retry":[{"ErrorEquals":["Other"],"MaxAttempts":5},
			         {"ErrorEquals":["Busy"],"IntervalSeconds":3,"BackoffRate":2,"MaxAttempts":4,"MaxDelaySeconds":10}],
			"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Caught"}],"End":true},
		"Caught":{"Type":"Succeed"}}}`
	e, f := setup(t, def, map[string]func(map[string]any) (any, *Error){
		"arn:aws:lambda:us-east-1:1:function:t": func(map[string]any) (any, *Error) { return nil, &Error{Name: "Busy", Cause: "try later"} }})
	x := execute(t, e, `{"k":1}`)
	st, out, _ := x.Result()
	if st != Succeeded {
		t.Fatalf("status %s", st)
	}
	if got, want := jsonOf(t, out), `{"error":{"Cause":"try later","Error":"Busy"},"k":1}`; got != want {
		t.Fatalf("output %s, want %s", got, want)
	}
	want := []time.Duration{0, 3 * time.Second, 9 * time.Second, 19 * time.Second, 29 * time.Second} // 3, 6, 10 (capped), 10
	if got := f.calls["arn:aws:lambda:us-east-1:1:function:t"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("attempts at %v, want %v", got, want)
	}
}

// JitterStrategy FULL draws each delay between 0 and the computed interval.
func TestFullJitterStaysUnderTheInterval(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:t",
		"Retry":[{"ErrorEquals":["Busy"],"IntervalSeconds":10,"BackoffRate":2,"MaxAttempts":6,"JitterStrategy":"FULL"}],"End":true}}}`
	e, f := setup(t, def, map[string]func(map[string]any) (any, *Error){
		"arn:aws:lambda:us-east-1:1:function:t": func(map[string]any) (any, *Error) { return nil, &Error{Name: "Busy"} }})
	x := execute(t, e, `{}`)
	if st, _, err := x.Result(); st != Failed || err.Name != "Busy" {
		t.Fatalf("status %s, error %v: want FAILED with Busy", st, err)
	}
	calls := f.calls["arn:aws:lambda:us-east-1:1:function:t"]
	if len(calls) != 7 {
		t.Fatalf("%d attempts, want 7", len(calls))
	}
	same := 0
	for i := 1; i < len(calls); i++ {
		gap, limit := calls[i]-calls[i-1], time.Duration(10<<(i-1))*time.Second
		if gap < 0 || gap > limit {
			t.Fatalf("retry %d after %v, want within [0, %v]", i, gap, limit)
		}
		if gap == limit {
			same++
		}
	}
	if same == len(calls)-1 {
		t.Fatal("no delay was jittered")
	}
}

// ErrorEquals: States.TaskFailed matches a function's error but not
// States.Timeout; States.ALL matches both.
func TestErrorMatching(t *testing.T) {
	for _, c := range []struct {
		names []string
		err   string
		want  bool
	}{
		{[]string{"States.TaskFailed"}, "Permanent", true},
		{[]string{"States.TaskFailed"}, "States.Timeout", false},
		{[]string{"States.ALL"}, "States.Timeout", true},
		{[]string{"States.ALL"}, "States.Runtime", false},
		{[]string{"Lambda.TooManyRequestsException"}, "Lambda.ServiceException", false},
	} {
		if got := matches(c.names, c.err); got != c.want {
			t.Errorf("matches(%v, %s) = %v, want %v", c.names, c.err, got, c.want)
		}
	}
}

// waitForTaskToken: the task waits for SendTaskSuccess; heartbeats reset
// HeartbeatSeconds but not TimeoutSeconds; a late answer gets TaskTimedOut,
// a made-up token InvalidToken.
func TestTaskTokenHeartbeatAndTimeout(t *testing.T) {
	def := `{"StartAt":"Wait","States":{"Wait":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"w","Payload":{"token.$":"$$.Task.Token"}},"TimeoutSeconds":%T,"HeartbeatSeconds":60,"End":true}}}`
	cases := []struct {
		name      string
		timeout   string
		beats     []time.Duration // when heartbeats are sent
		answerAt  time.Duration   // 0: never
		wantState Status
		wantErr   string
	}{
		{"answered after heartbeats", "600", []time.Duration{50 * time.Second, 100 * time.Second}, 150 * time.Second, Succeeded, ""},
		{"silent past the heartbeat", "600", nil, 0, Failed, ErrHeartbeat},
		{"heartbeats do not extend the timeout", "200", []time.Duration{50, 100, 150, 199}, 0, Failed, ErrTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var token string
			e, _ := setup(t, strings.Replace(def, "%T", c.timeout, 1), map[string]func(map[string]any) (any, *Error){
				"w": func(in map[string]any) (any, *Error) { token = in["token"].(string); return nil, nil }})
			for _, b := range c.beats {
				if b < time.Second {
					b *= time.Second
				}
				e.Sim.At(b, func() {
					if err := e.SendTaskHeartbeat(token); err != nil {
						t.Errorf("heartbeat: %v", err)
					}
				})
			}
			if c.answerAt > 0 {
				e.Sim.At(c.answerAt, func() {
					if err := e.SendTaskSuccess(token, `{"ok":true}`); err != nil {
						t.Errorf("answer: %v", err)
					}
				})
			}
			x := execute(t, e, `{}`)
			st, out, err := x.Result()
			if st != c.wantState || (err != nil) != (c.wantErr != "") || (err != nil && err.Name != c.wantErr) {
				t.Fatalf("status %s error %v, want %s %s", st, err, c.wantState, c.wantErr)
			}
			if c.wantErr == "" && jsonOf(t, out) != `{"ok":true}` {
				t.Fatalf("output %s", jsonOf(t, out))
			}
			if err := e.SendTaskSuccess(token, `{}`); err == nil || err.Name != "TaskTimedOut" {
				t.Fatalf("answer to an ended task: %v, want TaskTimedOut", err)
			}
			if err := e.SendTaskFailure("no-such-token", "E", "c"); err == nil || err.Name != "InvalidToken" {
				t.Fatalf("made-up token: %v, want InvalidToken", err)
			}
		})
	}
}

// Map: ItemSelector with $$.Map.Item.Value, MaxConcurrency bounding the
// iterations at once, results in item order, ResultSelector over them.
func TestMapConcurrencyAndResults(t *testing.T) {
	def := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,
		"ItemSelector":{"tag.$":"$.tag","n.$":"$$.Map.Item.Value"},
		"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"Sq","States":{"Sq":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:sq","End":true}}},
		"ResultSelector":{"squares.$":"$[*].sq"},"ResultPath":"$.out","End":true}}}`
	e, f := setup(t, def, map[string]func(map[string]any) (any, *Error){
		"arn:aws:lambda:us-east-1:1:function:sq": func(in map[string]any) (any, *Error) {
			n := in["n"].(float64)
			return map[string]any{"sq": n * n, "tag": in["tag"]}, nil
		}})
	f.took = 10 * time.Second
	x := execute(t, e, `{"tag":"a","items":[1,2,3,4,5]}`)
	_, out, err := x.Result()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonOf(t, out), `{"items":[1,2,3,4,5],"out":{"squares":[1,4,9,16,25]},"tag":"a"}`; got != want {
		t.Fatalf("output %s, want %s", got, want)
	}
	if f.most != 2 {
		t.Fatalf("%d iterations ran at once, want MaxConcurrency 2", f.most)
	}
	if got := e.Sim.Elapsed(); got != 30*time.Second {
		t.Fatalf("took %v, want 3 rounds of 10 s", got)
	}
}

// A failed iteration fails the Map; the Map's Catch takes it.
func TestMapIterationFailureIsCaught(t *testing.T) {
	def := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:t","End":true}}},
		"Catch":[{"ErrorEquals":["Permanent"],"ResultPath":"$.error","Next":"Bad"}],"ResultPath":"$.r","End":true},
		"Bad":{"Type":"Fail","Error":"VideoFailed","Cause":"see the reason"}}}`
	e, _ := setup(t, def, map[string]func(map[string]any) (any, *Error){
		"arn:aws:lambda:us-east-1:1:function:t": func(in map[string]any) (any, *Error) {
			if in["v"] == 2.0 {
				return nil, &Error{Name: "Permanent", Cause: "not a video"}
			}
			return in, nil
		}})
	x := execute(t, e, `{"items":[{"v":1},{"v":2},{"v":3}]}`)
	if st, _, err := x.Result(); st != Failed || err.Name != "VideoFailed" {
		t.Fatalf("status %s error %v, want FAILED VideoFailed", st, err)
	}
}

// Choice picks the first matching rule, else Default; with neither the run
// fails with States.NoChoiceMatched.
func TestChoice(t *testing.T) {
	def := `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[
		{"Variable":"$.skip","BooleanEquals":true,"Next":"Skip"},
		{"And":[{"Variable":"$.n","IsPresent":true},{"Variable":"$.n","NumericGreaterThan":5}],"Next":"Big"}]%D},
		"Skip":{"Type":"Pass","Result":"skip","End":true},"Big":{"Type":"Pass","Result":"big","End":true},"Other":{"Type":"Pass","Result":"other","End":true}}}`
	for _, c := range []struct{ def, in, want, err string }{
		{`,"Default":"Other"`, `{"skip":true}`, `"skip"`, ""},
		{`,"Default":"Other"`, `{"n":7}`, `"big"`, ""},
		{`,"Default":"Other"`, `{"n":3}`, `"other"`, ""},
		{``, `{"n":3}`, ``, ErrNoChoice},
	} {
		e, _ := setup(t, strings.Replace(def, "%D", c.def, 1), nil)
		x := execute(t, e, c.in)
		_, out, err := x.Result()
		if c.err != "" {
			if err == nil || err.Name != c.err {
				t.Fatalf("%s: error %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if got := jsonOf(t, out); got != c.want {
			t.Fatalf("%s: %s, want %s", c.in, got, c.want)
		}
	}
}

// StartExecution: the same name and input while running is the same run;
// a name in use otherwise is ExecutionAlreadyExists.
func TestExecutionNames(t *testing.T) {
	e, _ := setup(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, nil)
	m := "arn:aws:states:us-east-1:123456789012:stateMachine:m"
	a, err := e.Start(m, "n", `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := e.Start(m, "n", `{"a":1}`); err != nil || b != a {
		t.Fatalf("same name and input while running: %v %v", b, err)
	}
	if _, err := e.Start(m, "n", `{"a":2}`); err == nil || err.Name != "ExecutionAlreadyExists" {
		t.Fatalf("other input: %v", err)
	}
	e.Sim.Run(context.Background(), func() bool { return false })
	if _, err := e.Start(m, "n", `{"a":1}`); err == nil || err.Name != "ExecutionAlreadyExists" {
		t.Fatalf("closed run's name: %v", err)
	}
}

// The history quota: a Map of 5,000 items writes more than 25,000 events
// and the execution fails.
func TestHistoryLimit(t *testing.T) {
	def := `{"StartAt":"Each","States":{"Each":{"Type":"Map","MaxConcurrency":0,"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:t","End":true}}},"End":true}}}`
	e, _ := setup(t, def, map[string]func(map[string]any) (any, *Error){
		"arn:aws:lambda:us-east-1:1:function:t": func(in map[string]any) (any, *Error) { return 1, nil }})
	items := make([]int, 5000)
	b, _ := json.Marshal(items)
	x := execute(t, e, string(b))
	if st, _, err := x.Result(); st != Failed || err.Name != ErrRuntime {
		t.Fatalf("status %s error %v, want FAILED %s", st, err, ErrRuntime)
	}
	e2, _ := setup(t, def, map[string]func(map[string]any) (any, *Error){
		"arn:aws:lambda:us-east-1:1:function:t": func(in map[string]any) (any, *Error) { return 1, nil }})
	b, _ = json.Marshal(items[:2000])
	if st, _, err := execute(t, e2, string(b)).Result(); st != Succeeded {
		t.Fatalf("2,000 items: %s %v", st, err)
	}
}

// Definitions this interpreter would run wrongly are refused.
func TestRefusesWhatItDoesNotRun(t *testing.T) {
	for _, def := range []string{
		`{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true}}}`,
		`{"StartAt":"Q","States":{"P":{"Type":"Pass","End":true}}}`,
		`{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Nowhere"}}}`,
		`{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`,
	} {
		s := sim.New(time.Now())
		if err := NewEngine(s, nil, 1).Define("arn:aws:states:us-east-1:1:stateMachine:m", def); err == nil {
			t.Errorf("accepted %s", def)
		}
	}
}
