package sfn

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scenedex/scenedex/internal/awsfake"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// The fake stands in for AWS Step Functions: SendTaskSuccess/SendTaskFailure
// with the documented fields and errors.
func TestTokens(t *testing.T) {
	fake := awsfake.New(t)
	fake.On("SendTaskSuccess", func(t *testing.T, b map[string]any) awsfake.Reply {
		switch awsfake.String(b, "taskToken") {
		case "used":
			return awsfake.Reply{Status: 400, Type: "TaskTimedOut"}
		case "bogus":
			return awsfake.Reply{Status: 400, Type: "InvalidToken"}
		case "busy":
			return awsfake.Reply{Status: 400, Type: "ThrottlingException"}
		}
		if awsfake.String(b, "output") != `{"video_id":"v1"}` {
			t.Errorf("output %v", b["output"])
		}
		return awsfake.Reply{Body: map[string]any{}}
	})
	fake.On("SendTaskFailure", func(t *testing.T, b map[string]any) awsfake.Reply {
		if awsfake.String(b, "error") != "Permanent" || awsfake.String(b, "cause") != "no video stream" {
			t.Errorf("failure body %v", b)
		}
		return awsfake.Reply{Body: map[string]any{}}
	})
	tk := Tokens{Client: sfn.NewFromConfig(fake.Config())}
	ctx := context.Background()
	out := map[string]string{"video_id": "v1"}
	tests := []struct {
		token string
		code  scenedex.Code // "" = no error
	}{
		{"good", ""},
		{"used", ""}, // the workflow moved on (duplicate completion): fine
		{"bogus", scenedex.CodeInvalid},
		{"busy", scenedex.CodeUnavailable},
	}
	for _, tc := range tests {
		err := tk.Succeed(ctx, tc.token, out)
		if (tc.code == "" && err != nil) || (tc.code != "" && scenedex.ErrorCode(err) != tc.code) {
			t.Errorf("token %s: %v", tc.token, err)
		}
	}
	if err := tk.Fail(ctx, "good", "Permanent", "no video stream"); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Calls("SendTaskSuccess")); n != 4+2 { // "busy" retried by the SDK: 3 calls
		t.Errorf("%d SendTaskSuccess calls", n)
	}
}

func TestStarterIgnoresDuplicateNames(t *testing.T) {
	fake := awsfake.New(t)
	seen := map[string]bool{}
	fake.On("StartExecution", func(t *testing.T, b map[string]any) awsfake.Reply {
		name := awsfake.String(b, "name")
		if awsfake.String(b, "stateMachineArn") != "arn:aws:states:us-east-1:1:stateMachine:ingest" || awsfake.String(b, "input") != `{"a":1}` {
			t.Errorf("StartExecution %v", b)
		}
		if seen[name] {
			return awsfake.Reply{Status: 400, Type: "ExecutionAlreadyExists"}
		}
		seen[name] = true
		return awsfake.Reply{Body: map[string]any{"executionArn": "arn:exec:" + name, "startDate": 1.7e9}}
	})
	s := Starter{Client: sfn.NewFromConfig(fake.Config()), StateMachineArn: "arn:aws:states:us-east-1:1:stateMachine:ingest"}
	for i, want := range []bool{true, false} {
		started, err := s.Start(context.Background(), "clip-abc", []byte(`{"a":1}`))
		if err != nil || started != want {
			t.Fatalf("start %d: %v %v", i, started, err)
		}
	}
}
