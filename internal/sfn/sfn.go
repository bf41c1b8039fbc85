// Package sfn answers AWS Step Functions task tokens: the embed function
// that completes a video's last chunk releases the workflow's
// .waitForTaskToken state.
package sfn

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// API is the subset of the Step Functions client used.
type API interface {
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// Tokens sends task results.
type Tokens struct{ Client API }

// Succeed completes the waiting state with output. A token that is already
// used or timed out is not an error: the workflow has moved on.
func (t Tokens) Succeed(ctx context.Context, token string, output any) error {
	b, err := json.Marshal(output)
	if err != nil {
		return err
	}
	_, err = t.Client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(b))})
	return classify(err)
}

// Fail fails the waiting state.
func (t Tokens) Fail(ctx context.Context, token, code, cause string) error {
	if len(cause) > 32768 {
		cause = cause[:32768]
	}
	_, err := t.Client.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String(code), Cause: aws.String(cause)})
	return classify(err)
}

// Starter starts workflow runs, one per object version.
type Starter struct {
	Client          API
	StateMachineArn string
}

// Start starts an execution named name; a name already used (a duplicate
// event) starts nothing and is not an error.
func (s Starter) Start(ctx context.Context, name string, input []byte) (started bool, err error) {
	_, err = s.Client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(s.StateMachineArn),
		Name: aws.String(name), Input: aws.String(string(input))})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		return false, nil
	}
	if err != nil {
		return false, scenedex.Wrap(scenedex.CodeUnavailable, err, "start execution %s", name)
	}
	return true, nil
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	var timedOut *types.TaskTimedOut
	var notExist *types.TaskDoesNotExist
	if errors.As(err, &timedOut) || errors.As(err, &notExist) {
		return nil
	}
	var invalid *types.InvalidToken
	if errors.As(err, &invalid) {
		return scenedex.Wrap(scenedex.CodeInvalid, err, "task token")
	}
	return scenedex.Wrap(scenedex.CodeUnavailable, err, "step functions")
}
