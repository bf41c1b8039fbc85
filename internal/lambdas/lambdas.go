// Package lambdas holds the handlers of the Lambda functions. Each takes the
// event shape AWS delivers (EventBridge, Step Functions state, SQS, API
// Gateway v2) and calls the pipeline steps; the functions' main packages only
// wire configuration and adapters to them.
package lambdas

import (
	"context"
	"log/slog"
	"time"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// TokenStore keeps the workflow's task token on the video (DynamoDB).
type TokenStore interface {
	SetTaskToken(ctx context.Context, videoID, token string) (scenedex.Video, error)
	TaskToken(ctx context.Context, videoID string) (string, error)
}

// Tokens answers task tokens (Step Functions).
type Tokens interface {
	Succeed(ctx context.Context, token string, output any) error
	Fail(ctx context.Context, token, code, cause string) error
}

// Starter starts a named workflow run (Step Functions).
type Starter interface {
	Start(ctx context.Context, name string, input []byte) (started bool, err error)
}

// Publisher announces indexed videos (EventBridge).
type Publisher interface {
	VideoIndexed(ctx context.Context, v scenedex.Video) error
}

// StaleLister finds videos stuck in a status (the catalog).
type StaleLister interface {
	Stale(ctx context.Context, s scenedex.Status, before time.Time) ([]scenedex.Video, error)
}

// Functions are the handlers over their dependencies.
type Functions struct {
	P       *pipeline.Pipeline
	Store   TokenStore
	Stale   StaleLister
	Tokens  Tokens
	Events  Publisher
	Starter Starter
	Bucket  string // the media bucket (sweep names it in the events it starts)
	// DeadLetters backs the API's /v1/dead-letters (the stack's DLQs).
	DeadLetters scenedex.DeadLetterQueues
	// WindowMaxReceives is the window queue's maxReceiveCount: on that
	// receive, a window that still fails ends its video (chunk).
	WindowMaxReceives int
	// WindowDLQArn is the window queue's dead-letter queue: a window from it
	// ends its video at once (chunk).
	WindowDLQArn string
	Log          *slog.Logger
}

// Retryable is an error the state machine retries with backoff (the
// function's error type becomes the state's error name).
type Retryable struct{ Message string }

func (e *Retryable) Error() string { return e.Message }

// Permanent is an error no retry can fix; the state machine's Catch sends the
// video to the fail step.
type Permanent struct{ Message string }

func (e *Permanent) Error() string { return e.Message }

// stepError types err for Step Functions.
func stepError(err error) error {
	if err == nil {
		return nil
	}
	if scenedex.Permanent(err) {
		return &Permanent{Message: scenedex.Message(err)}
	}
	return &Retryable{Message: err.Error()}
}
