// Package awslocal is a test harness: the service side of AWS as the
// burst harness needs it — Lambda's concurrency and throttling, SQS queues
// with their visibility, receive counts and redrive, event source mappings,
// and HTTP endpoints speaking the JSON protocols of SQS, Step Functions and
// EventBridge for the real SDK clients. Everything runs on the virtual
// clock of harness/sim; each rule is cited from the AWS documentation.
package awslocal

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scenedex/scenedex/harness/asl"
	"github.com/scenedex/scenedex/harness/sim"
)

// Handler is a function's code: aws-lambda-go's lambda.Handler (what
// lambda.NewHandler makes of the function's handler), so payloads are
// decoded and encoded as the Lambda runtime does.
type Handler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Function is one deployed function.
type Function struct {
	Name    string // e.g. "chunk"
	Arn     string
	Handler Handler
	// Reserved is the function's reserved concurrency (0: none reserved,
	// the function draws on the account's unreserved pool).
	Reserved int
	// Duration models how long an invocation lasts in virtual time (the
	// handler itself runs at one virtual instant); it holds its concurrency
	// for that long. nil: one second.
	Duration func(payload []byte) time.Duration
}

// Lambda is the Lambda service: functions under the account's concurrency.
type Lambda struct {
	Sim *sim.Sim
	// AccountLimit is the account's concurrent executions in the Region
	// (1,000 by default; new accounts may have 10).
	AccountLimit int
	// Slots bounds the handlers running for real at once (the machine's
	// cores), apart from the modelled concurrency; 0: no bound.
	Slots int

	mu        sync.Mutex
	fns       map[string]*Function // by name and by ARN
	running   map[string]int       // by function name
	peak      map[string]int       // most running at once, by function name
	real      map[string]time.Duration
	unreserve int // invocations drawing on the unreserved pool
	sem       chan struct{}
	throttled atomic.Int64
	invoked   atomic.Int64
}

// Add deploys f.
func (l *Lambda) Add(f *Function) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fns == nil {
		l.fns, l.running, l.peak, l.real = map[string]*Function{}, map[string]int{}, map[string]int{}, map[string]time.Duration{}
	}
	l.fns[f.Name], l.fns[f.Arn] = f, f
}

// Function finds a function by name or ARN.
func (l *Lambda) Function(nameOrArn string) *Function {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fns[nameOrArn]
}

// Throttled is the number of invocations refused with
// TooManyRequestsException so far.
func (l *Lambda) Throttled() int64 { return l.throttled.Load() }

// Invoked is the number of invocations that ran.
func (l *Lambda) Invoked() int64 { return l.invoked.Load() }

// ErrThrottled is Lambda's throttling error as Step Functions names it:
// "Lambda.TooManyRequestsException" (developer guide, "Handle transient
// Lambda service exceptions"; the Invoke API's TooManyRequestsException,
// HTTP 429, "the request throughput limit was exceeded").
const ErrThrottled = "Lambda.TooManyRequestsException"

// take reserves a concurrency slot for f or reports false. The Lambda
// guide, "Lambda function scaling": "reserved concurrency ... is the maximum
// number of concurrent instances for your function" and "no other function
// can use that concurrency"; functions without a reservation share the
// account's unreserved concurrency; "when requests come in faster than your
// function can scale, or when your function is at maximum concurrency,
// additional requests fail with a throttling error (429 status code)".
func (l *Lambda) take(f *Function) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f.Reserved > 0 {
		if l.running[f.Name] >= f.Reserved {
			return false
		}
	} else {
		reserved := 0
		for name, g := range l.fns {
			if name == g.Name && g.Reserved > 0 {
				reserved += g.Reserved
			}
		}
		if l.unreserve >= l.AccountLimit-reserved {
			return false
		}
		l.unreserve++
	}
	l.running[f.Name]++
	l.peak[f.Name] = max(l.peak[f.Name], l.running[f.Name])
	return true
}

// RealTime is the wall time this machine spent in each function's handler.
func (l *Lambda) RealTime() map[string]time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]time.Duration, len(l.real))
	for k, v := range l.real {
		out[k] = v.Round(time.Millisecond)
	}
	return out
}

// Peak is the most invocations of a function that held concurrency at once.
func (l *Lambda) Peak(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak[name]
}

func (l *Lambda) release(f *Function) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[f.Name]--
	if f.Reserved <= 0 {
		l.unreserve--
	}
}

// Invoke is a synchronous invocation (RequestResponse): throttled at once
// when no concurrency is free, else the handler runs and done gets its
// output, or its error named by the error's type as the Lambda runtime
// reports it (errorType), after the modelled duration. Implements
// asl.Integrations' Invoke.
func (l *Lambda) Invoke(name string, payload []byte, done func([]byte, *asl.Error)) {
	l.TryInvoke(name, payload, done)
}

// TryInvoke is Invoke that also says at once whether the invocation was
// throttled (done is called either way).
func (l *Lambda) TryInvoke(name string, payload []byte, done func([]byte, *asl.Error)) bool {
	f := l.Function(name)
	if f == nil {
		l.Sim.At(0, func() {
			done(nil, &asl.Error{Name: "Lambda.ResourceNotFoundException", Cause: "Function not found: " + name})
		})
		return true
	}
	if !l.take(f) {
		l.throttled.Add(1)
		l.Sim.At(0, func() { done(nil, &asl.Error{Name: ErrThrottled, Cause: "Rate Exceeded."}) })
		return false
	}
	l.invoked.Add(1)
	l.Sim.Go(func() {
		out, err := l.run(f, payload)
		d := time.Second
		if f.Duration != nil {
			d = f.Duration(payload)
		}
		l.Sim.At(d, func() {
			l.release(f)
			done(out, err)
		})
	})
	return true
}

func (l *Lambda) run(f *Function, payload []byte) ([]byte, *asl.Error) {
	if l.Slots > 0 {
		l.mu.Lock()
		if l.sem == nil {
			l.sem = make(chan struct{}, l.Slots)
		}
		sem := l.sem
		l.mu.Unlock()
		sem <- struct{}{}
		defer func() { <-sem }()
	}
	began := time.Now()
	out, err := f.Handler.Invoke(context.Background(), payload)
	l.mu.Lock()
	l.real[f.Name] += time.Since(began)
	l.mu.Unlock()
	if err == nil {
		return out, nil
	}
	return nil, FunctionError(err)
}

// FunctionError names a handler's error as the Lambda Go runtime reports it
// — errorType is the error's type name without the pointer, errorMessage its
// text — and as Step Functions passes it on: Error is the errorType, Cause
// the JSON error object (developer guide, "Handling errors in Lambda
// integrations").
func FunctionError(err error) *asl.Error {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	cause, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": t.Name()})
	return &asl.Error{Name: t.Name(), Cause: string(cause)}
}

// InvokeAsync is an asynchronous invocation (Event), as EventBridge makes:
// Lambda queues the event; "for throttling errors (429) and system errors
// (500-series), Lambda returns the event to the queue and tries to run the
// function again for up to 6 hours", and a function error is retried twice
// (Lambda guide, "Asynchronous invocation" / "error handling"). done gets
// the final outcome (nil: the function ran and succeeded).
func (l *Lambda) InvokeAsync(name string, payload []byte, done func(*asl.Error)) {
	start := l.Sim.Elapsed()
	errorsLeft := 2
	wait := time.Second
	var try func()
	try = func() {
		l.Invoke(name, payload, func(_ []byte, err *asl.Error) {
			switch {
			case err == nil:
				done(nil)
			case err.Name == ErrThrottled && l.Sim.Elapsed()-start < 6*time.Hour:
				// Backoff grows to five minutes between attempts.
				l.Sim.At(wait, try)
				wait = min(2*wait, 5*time.Minute)
			case err.Name != ErrThrottled && errorsLeft > 0:
				errorsLeft--
				l.Sim.At(time.Minute, try)
			default:
				done(err)
			}
		})
	}
	try()
}

// String describes the function set, for failures.
func (f *Function) String() string { return fmt.Sprintf("%s (reserved %d)", f.Name, f.Reserved) }
