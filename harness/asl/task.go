package asl

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

const (
	lambdaInvoke = "arn:aws:states:::lambda:invoke"
	sqsSend      = "arn:aws:states:::sqs:sendMessage"
	waitSuffix   = ".waitForTaskToken"
)

// waiting is a task attempt in flight: its result is delivered once, by the
// integration, a task token answer, or a timer.
type waiting struct {
	mu                    sync.Mutex
	settled               bool
	heartbeat             int // generation of the heartbeat timer
	stopTimeout, stopBeat func()
	st                    *state
	r                     *run
	done                  func(any, *Error)
}

func (w *waiting) settle(out any, err *Error) {
	w.mu.Lock()
	if w.settled {
		w.mu.Unlock()
		return
	}
	w.settled = true
	stops := []func(){w.stopTimeout, w.stopBeat}
	w.mu.Unlock()
	for _, stop := range stops {
		if stop != nil {
			stop()
		}
	}
	w.done(out, err)
}

// task runs one attempt of a Task state: InputPath -> Parameters -> the
// resource -> ResultSelector -> ResultPath -> OutputPath (spec, "Input and
// Output Processing").
func (r *run) task(st *state, input, ctx any, done func(any, *Error)) {
	eff, err := r.filter(st.InputPath, input, ctx)
	if err != nil {
		done(nil, err)
		return
	}
	wait := strings.HasSuffix(st.Resource, waitSuffix)
	c := copyMap(ctx)
	var token string
	if wait {
		// "$$.Task.Token": the context object holds the task token while a
		// Task uses the callback pattern (developer guide, "Wait for a
		// Callback with Task Token").
		token = r.e.newToken(r.x.Name)
		c["Task"] = map[string]any{"Token": token}
	}
	params := eff
	if st.Parameters != nil {
		v, perr := payload(st.Parameters, eff, c)
		if perr != nil {
			done(nil, &Error{Name: ErrParameterPath, Cause: perr.Error()})
			return
		}
		params = v
	}
	r.events(3) // TaskScheduled, TaskStarted, TaskSucceeded/Failed
	w := &waiting{st: st, r: r, done: func(res any, err *Error) {
		if token != "" {
			r.e.closeToken(token)
		}
		if err != nil {
			done(nil, err)
			return
		}
		done(r.output(st, input, res, ctx))
	}}
	// "TimeoutSeconds ... If not provided, the default value is 99999999";
	// "HeartbeatSeconds ... If provided, ... MUST be smaller than
	// TimeoutSeconds"; a task that runs past them "fails with a
	// States.Timeout" / "States.HeartbeatTimeout" (spec, "Task State";
	// developer guide, "Error names").
	timeout := defaultTaskTimout
	if st.TimeoutSeconds != nil {
		timeout = *st.TimeoutSeconds
	}
	w.stopTimeout = r.e.Sim.Timer(time.Duration(timeout)*time.Second, func() {
		w.settle(nil, &Error{Name: ErrTimeout, Cause: fmt.Sprintf("the task ran longer than %d s", timeout)})
	})
	if token != "" {
		r.e.mu.Lock()
		r.e.tokens[token] = w
		r.e.mu.Unlock()
		w.armHeartbeat(r.e)
	}
	switch res := strings.TrimSuffix(st.Resource, waitSuffix); {
	case res == lambdaInvoke:
		m, _ := params.(map[string]any)
		fn, _ := m["FunctionName"].(string)
		body, _ := json.Marshal(m["Payload"])
		r.e.Svc.Invoke(fn, body, func(out []byte, err *Error) {
			if err != nil || wait {
				if err != nil {
					w.settle(nil, err)
				}
				return // waitForTaskToken: the answer comes with the token
			}
			// lambda:invoke's result is the Invoke API's response: the
			// function's output under "Payload" (developer guide, "Invoke
			// an AWS Lambda function with Step Functions").
			var p any
			if jerr := json.Unmarshal(out, &p); jerr != nil {
				p = string(out)
			}
			w.settle(map[string]any{"Payload": p, "StatusCode": 200.0, "ExecutedVersion": "$LATEST"}, nil)
		})
	case res == sqsSend && wait:
		m, _ := params.(map[string]any)
		url, _ := m["QueueUrl"].(string)
		body, ok := m["MessageBody"].(string)
		if !ok {
			b, _ := json.Marshal(m["MessageBody"])
			body = string(b)
		}
		r.e.Svc.SendMessage(url, body, func(err *Error) {
			if err != nil {
				w.settle(nil, err)
			}
		})
	case strings.HasPrefix(res, "arn:aws:lambda:") && !wait:
		// A function ARN as Resource: the function's output is the result,
		// its error type the error name.
		body, _ := json.Marshal(params)
		r.e.Svc.Invoke(res, body, func(out []byte, err *Error) {
			if err != nil {
				w.settle(nil, err)
				return
			}
			var p any
			if jerr := json.Unmarshal(out, &p); jerr != nil {
				w.settle(nil, &Error{Name: ErrRuntime, Cause: "function output is not JSON"})
				return
			}
			w.settle(p, nil)
		})
	default:
		w.settle(nil, &Error{Name: ErrRuntime, Cause: "resource " + st.Resource + " is not supported by this interpreter"})
	}
}

func (w *waiting) armHeartbeat(e *Engine) {
	if w.st.HeartbeatSeconds == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.settled {
		return
	}
	if w.stopBeat != nil {
		w.stopBeat()
	}
	w.heartbeat++
	gen := w.heartbeat
	w.stopBeat = e.Sim.Timer(time.Duration(*w.st.HeartbeatSeconds)*time.Second, func() {
		w.mu.Lock()
		stale := gen != w.heartbeat
		w.mu.Unlock()
		if !stale {
			w.settle(nil, &Error{Name: ErrHeartbeat, Cause: fmt.Sprintf("no heartbeat for %d s", *w.st.HeartbeatSeconds)})
		}
	})
}

func (e *Engine) newToken(run string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextTok++
	return fmt.Sprintf("tok-%d-%s", e.nextTok, run)
}

func (e *Engine) closeToken(token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.tokens, token)
	e.closed[token] = true
}

// answer finds the task of a token. The API reference lists the errors:
// InvalidToken ("the provided token is not valid"), TaskTimedOut (the task
// already ended: timed out, or answered) and TaskDoesNotExist.
func (e *Engine) answer(token string) (*waiting, *Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w := e.tokens[token]; w != nil {
		return w, nil
	}
	if e.closed[token] {
		return nil, &Error{Name: "TaskTimedOut", Cause: "Task Timed Out: '" + token + "'"}
	}
	return nil, &Error{Name: "InvalidToken", Cause: "Invalid token"}
}

// SendTaskSuccess ends the waiting task with output (a JSON text).
func (e *Engine) SendTaskSuccess(token, output string) *Error {
	w, err := e.answer(token)
	if err != nil {
		return err
	}
	var v any
	if jerr := json.Unmarshal([]byte(output), &v); jerr != nil {
		return &Error{Name: "InvalidOutput", Cause: jerr.Error()}
	}
	e.Sim.At(0, func() { w.settle(v, nil) })
	return nil
}

// SendTaskFailure ends the waiting task with an error.
func (e *Engine) SendTaskFailure(token, name, cause string) *Error {
	w, err := e.answer(token)
	if err != nil {
		return err
	}
	e.Sim.At(0, func() { w.settle(nil, &Error{Name: name, Cause: cause}) })
	return nil
}

// SendTaskHeartbeat "resets the Heartbeat clock" of the waiting task (API
// reference, SendTaskHeartbeat); it does not extend TimeoutSeconds.
func (e *Engine) SendTaskHeartbeat(token string) *Error {
	w, err := e.answer(token)
	if err != nil {
		return err
	}
	w.armHeartbeat(e)
	return nil
}

// mapState runs an inline Map: "the Map State ... runs a set of steps for
// each element of an input array"; ItemsPath selects the array (default
// "$"), ItemSelector builds each iteration's input with "$$.Map.Item.Index"
// and "$$.Map.Item.Value" in the context object, MaxConcurrency bounds the
// iterations running at once ("a value of 0 ... places no limit"), and the
// result is the array of the iterations' outputs. "If any iteration fails
// ... the Map State fails" (spec, "Map State").
func (r *run) mapState(st *state, input, ctx any, done func(any, *Error)) {
	eff, err := r.filter(st.InputPath, input, ctx)
	if err != nil {
		done(nil, err)
		return
	}
	itemsPath := "$"
	if st.ItemsPath != nil {
		itemsPath = *st.ItemsPath
	}
	v, gerr := get(itemsPath, eff, ctx)
	items, ok := v.([]any)
	if gerr != nil || !ok {
		done(nil, &Error{Name: ErrRuntime, Cause: fmt.Sprintf("ItemsPath %s does not name an array", itemsPath)})
		return
	}
	proc := st.ItemProcessor
	if proc == nil {
		proc = st.Iterator
	}
	sel := st.ItemSelector
	if sel == nil {
		sel = st.Parameters
	}
	r.events(2) // MapStateStarted, MapStateSucceeded
	results := make([]any, len(items))
	var (
		mu      sync.Mutex
		nextIdx int
		left    = len(items)
		failed  bool
	)
	finish := func() { done(r.output(st, input, results, ctx)) }
	if len(items) == 0 {
		finish()
		return
	}
	var launch func()
	launch = func() {
		mu.Lock()
		if failed || nextIdx >= len(items) {
			mu.Unlock()
			return
		}
		i := nextIdx
		nextIdx++
		mu.Unlock()
		c := copyMap(ctx)
		c["Map"] = map[string]any{"Item": map[string]any{"Index": float64(i), "Value": items[i]}}
		in := items[i]
		if sel != nil {
			v, perr := payload(sel, eff, c)
			if perr != nil {
				mu.Lock()
				failed = true
				mu.Unlock()
				done(nil, &Error{Name: ErrParameterPath, Cause: perr.Error()})
				return
			}
			in = v
		}
		if r.events(2) { // MapIterationStarted, MapIterationSucceeded
			return
		}
		r.states(proc.States, proc.StartAt, in, c, func(out any, err *Error) {
			mu.Lock()
			if failed {
				mu.Unlock()
				return
			}
			if err != nil {
				failed = true
				mu.Unlock()
				done(nil, err)
				return
			}
			results[i] = out
			left--
			last := left == 0
			mu.Unlock()
			if last {
				finish()
				return
			}
			launch()
		})
	}
	n := st.MaxConcurrency
	if n <= 0 || n > len(items) {
		n = len(items)
	}
	for range n {
		launch()
	}
}

// choice picks the first matching Choice Rule's Next, else Default: "If no
// Choice Rule matches and no Default transition was specified, the
// interpreter raises a run-time error States.NoChoiceMatched" (spec,
// "Choice State").
func (r *run) choice(st *state, input, ctx any) (string, any, *Error) {
	eff, err := r.filter(st.InputPath, input, ctx)
	if err != nil {
		return "", nil, err
	}
	for _, rule := range st.Choices {
		if rule.eval(eff) {
			out, err := r.filter(st.OutputPath, eff, ctx)
			return rule.Next, out, err
		}
	}
	if st.Default == "" {
		return "", nil, &Error{Name: ErrNoChoice, Cause: "no Choice Rule matched and there is no Default"}
	}
	out, err := r.filter(st.OutputPath, eff, ctx)
	return st.Default, out, err
}
