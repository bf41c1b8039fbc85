// The ingest workflow (issue #17's design, as agreed). Deviations and
// additions, none forced by AWS:
//
//   - A video deleted while its window waits is not answered {"chunks": 0}:
//     the chunk function has no catalog to tell "deleted" from "not a video"
//     (least privilege), so its cut fails as the user's file (Permanent) and
//     the fail function, finding no record, ends the run quietly.
//   - The window DLQ is consumed by the chunk function itself (its own event
//     source, MaximumConcurrency 2): it answers each dead window's token with
//     "ChunkFailed" without cutting, so what crashed the cut cannot crash it.
//   - The Map item catches its own States.Timeout into a Fail state whose
//     cause names the window wait (the video's reason says which wait ran
//     out).
//   - The window queue's maxReceiveCount is 5 (windowMaxReceives).
package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Names of the functions the workflow calls; DefinitionSubstitutions maps
// "${<Name>Arn}" to each function's ARN (and "${WindowQueueUrl}" to the window
// queue's URL).
var workflowFunctions = []string{"Probe", "Await", "Finalize", "Fail"}

// WorkflowOptions tunes the state machine.
type WorkflowOptions struct {
	MapConcurrency int // windows of one video on the window queue at once
	// WindowWaitSecs bounds one window's wait on the window queue (queued
	// behind other videos' windows, then cut): past it the video ends FAILED.
	WindowWaitSecs int
	// EmbedWaitSecs bounds the wait for all embeddings of one video (queued
	// behind other videos' chunks, then embedded).
	EmbedWaitSecs int
}

// Throttling of a directly invoked function (Lambda.TooManyRequestsException:
// the account's concurrency is in use) is waited out, not failed: exponential
// backoff from 10 s to at most 300 s between attempts, with full jitter (each
// delay uniform in [0, d], so runs throttled together do not retry together).
// 640 attempts: 5 growing delays, then 635 capped ones averaging 150 s —
// 26.5 h expected in all; the sum of 635 uniform draws has a standard
// deviation of 0.6 h, so retries last at least 24 h (4 standard deviations
// below the mean) all but never. The throttled step then fails its video
// with Lambda's error as the reason.
const (
	throttleIntervalSecs = 10
	throttleMaxDelaySecs = 300
	throttleMaxAttempts  = 640
	// transientMaxAttempts retries the Lambda service's own errors (and our
	// Retryable) a few times, quickly: faults, not congestion.
	transientMaxAttempts = 4
)

// retryLambda retries the Lambda service's transient errors, timeouts of the
// invoke call and our Retryable, with exponential backoff and jitter — and
// throttling on the long schedule above.
func retryLambda(extra ...string) []any {
	return []any{
		map[string]any{
			"ErrorEquals":     []string{"Lambda.TooManyRequestsException"},
			"IntervalSeconds": throttleIntervalSecs, "MaxAttempts": throttleMaxAttempts, "BackoffRate": 2.0,
			"MaxDelaySeconds": throttleMaxDelaySecs, "JitterStrategy": "FULL",
		},
		map[string]any{
			"ErrorEquals": append([]string{"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
				"Lambda.ClientExecutionTimeoutException", "Lambda.Unknown", "Retryable"}, extra...),
			"IntervalSeconds": 2, "MaxAttempts": transientMaxAttempts, "BackoffRate": 2.0, "MaxDelaySeconds": 60, "JitterStrategy": "FULL",
		},
	}
}

// retrySQS retries the window's SendMessage: Step Functions names the SQS
// integration's errors SQS.AmazonSQSException (the service's answer, e.g.
// throttling or a 5xx) and SQS.SdkClientException (no answer). Not
// States.TaskFailed: as a retrier it matches every error but States.Timeout
// (Step Functions developer guide, "Handling errors in Step Functions
// workflows"), and so would retry a window answered "Permanent".
func retrySQS() []any {
	return []any{map[string]any{
		"ErrorEquals":     []string{"SQS.AmazonSQSException", "SQS.SdkClientException"},
		"IntervalSeconds": 2, "MaxAttempts": transientMaxAttempts, "BackoffRate": 2.0, "MaxDelaySeconds": 60, "JitterStrategy": "FULL",
	}}
}

// catchToFail sends a user's unusable file (Permanent) to MarkRejected — the
// video ends FAILED with its reason and the run succeeds, so nobody is paged
// for it — and any other error to MarkFailed, which fails the run.
var catchToFail = []any{
	map[string]any{"ErrorEquals": []string{"Permanent"}, "ResultPath": "$.error", "Next": "MarkRejected"},
	map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.error", "Next": "MarkFailed"},
}

// MaxWindows bounds the windows of one video, so that one run's history stays
// within a Standard execution's 25,000 events (Step Functions quotas,
// "Maximum execution history size"). Probe refuses longer videos with a clear
// reason (pipeline.MaxWindows, which must agree; a test checks). The budget,
// worst case (historyEvents computes it; a test checks it fits):
//
//   - each window: MapIterationStarted, TaskStateEntered, TaskScheduled,
//     TaskStarted, TaskSubmitted, TaskSucceeded, TaskStateExited,
//     MapIterationSucceeded = 8 (sqs:sendMessage.waitForTaskToken writes
//     TaskSubmitted beside the Lambda task's 7): 2,000 × 8 = 16,000;
//   - the Lambda tasks on one run's path (Probe, WaitForEmbeddings, Finalize,
//     MarkRejected or MarkFailed) each spending every retry, throttled
//     (640) and transient (4), at 3 events a failed attempt
//     (scheduled, started, failed): 4 × 644 × 3 = 7,728;
//   - the run's own states, entered and exited: about 60.
//
// 23,788 of 25,000: the rest (about 400 retried window sends) is the margin.
const MaxWindows = 2000

const (
	historyLimit       = 25000
	eventsPerWindow    = 8
	eventsPerRetry     = 3
	eventsFixed        = 60
	lambdaStatesOnPath = 4
)

// WorkflowDefinition is the Amazon States Language of one video's ingest:
// Probe -> (duplicate? stop) -> Map(each window through the window queue,
// task token) -> WaitForEmbeddings (task token) -> Finalize, every step
// caught into MarkRejected (the user's file) or MarkFailed.
func WorkflowDefinition(o WorkflowOptions) string {
	def := map[string]any{
		"Comment": "scenedex: one video from Object Created to READY or FAILED",
		"StartAt": "Probe",
		"States": map[string]any{
			"Probe": map[string]any{
				"Type": "Task", "Resource": "${ProbeArn}", "Comment": "register, ffprobe, plan windows",
				"Retry": retryLambda(), "Catch": catchToFail, "Next": "Duplicate?",
			},
			"Duplicate?": map[string]any{
				"Type":    "Choice",
				"Choices": []any{map[string]any{"Variable": "$.skip", "BooleanEquals": true, "Next": "AlreadyProcessed"}},
				"Default": "ChunkWindows",
			},
			"AlreadyProcessed": map[string]any{"Type": "Succeed", "Comment": "a repeated event for a processed object"},
			"ChunkWindows": map[string]any{
				"Type": "Map", "ItemsPath": "$.windows", "MaxConcurrency": o.MapConcurrency,
				"ItemSelector": map[string]any{"video.$": "$.video", "plan.$": "$.plan", "window.$": "$$.Map.Item.Value"},
				"ItemProcessor": map[string]any{
					"ProcessorConfig": map[string]any{"Mode": "INLINE"},
					"StartAt":         "Chunk",
					"States":          windowStates(o),
				},
				"ResultSelector": map[string]any{"counts.$": "$[*].chunks"},
				"ResultPath":     "$.chunked", "Catch": catchToFail, "Next": "WaitForEmbeddings",
			},
			"WaitForEmbeddings": map[string]any{
				"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
				"Parameters": map[string]any{
					"FunctionName": "${AwaitArn}",
					"Payload":      map[string]any{"video_id.$": "$.video_id", "counts.$": "$.chunked.counts", "task_token.$": "$$.Task.Token"},
				},
				// No HeartbeatSeconds: during a backlog no chunk of this
				// video may be embedded for hours, and a heartbeat that
				// silence breaks would fail a video for waiting.
				"TimeoutSeconds": o.EmbedWaitSecs,
				"ResultPath":     nil, "Retry": retryLambda(), "Catch": catchToFail, "Next": "Finalize",
			},
			"Finalize": map[string]any{
				"Type": "Task", "Resource": "${FinalizeArn}", "Parameters": map[string]any{"video_id.$": "$.video_id"},
				"Retry": retryLambda(), "Catch": catchToFail, "End": true,
			},
			"MarkRejected": map[string]any{
				"Type": "Task", "Resource": "${FailArn}", "Comment": "the user's file is unusable: FAILED with the reason",
				"Retry": retryLambda(), "Next": "Rejected",
			},
			"Rejected": map[string]any{"Type": "Succeed", "Comment": "the run did its job: the video says why it failed"},
			"MarkFailed": map[string]any{
				"Type": "Task", "Resource": "${FailArn}", "Comment": "the video ends FAILED with the reason",
				"Retry": retryLambda(), "Next": "Failed",
			},
			"Failed": map[string]any{"Type": "Fail", "Error": "VideoFailed", "Cause": "see the video's reason"},
		},
	}
	b, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// windowStates are the Map item's states: the window waits on the window
// queue, whose event source's MaximumConcurrency bounds the chunk function
// across all videos, and the chunk function answers its token with
// {"chunks": n} (or "Permanent", "ChunkFailed"). A wait past WindowWaitSecs
// fails the video with a reason that says which wait ran out.
func windowStates(o WorkflowOptions) map[string]any {
	return map[string]any{
		"Chunk": map[string]any{
			"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
			"Parameters": map[string]any{
				"QueueUrl": "${WindowQueueUrl}",
				"MessageBody": map[string]any{"video.$": "$.video", "plan.$": "$.plan", "window.$": "$.window",
					"task_token.$": "$$.Task.Token"},
			},
			"TimeoutSeconds": o.WindowWaitSecs, "Retry": retrySQS(), "End": true,
			"Catch": []any{map[string]any{"ErrorEquals": []string{"States.Timeout"}, "Next": "WindowTimedOut"}},
		},
		"WindowTimedOut": map[string]any{
			"Type": "Fail", "Error": "WindowTimedOut",
			"Cause": fmt.Sprintf("a window waited over %d hours to be cut (queued behind other videos, or failing every attempt): "+
				"raise -c windowWaitHours or -c chunkConcurrency, then reprocess the video", o.WindowWaitSecs/3600),
		},
	}
}

// RenderWorkflow substitutes ARNs and the window queue's URL into the
// definition (tests and tools; CDK does the same with
// DefinitionSubstitutions at deploy time).
func RenderWorkflow(def string, arns map[string]string, windowQueueURL string) string {
	for name, arn := range arns {
		def = strings.ReplaceAll(def, "${"+name+"Arn}", arn)
	}
	return strings.ReplaceAll(def, "${WindowQueueUrl}", windowQueueURL)
}

// historyEvents is the worst-case history of one run of windows windows
// (MaxWindows' comment): every window once, every Lambda task on the run's
// path spending all its retries.
func historyEvents(windows int) int {
	return eventsFixed + windows*eventsPerWindow + lambdaStatesOnPath*(throttleMaxAttempts+transientMaxAttempts)*eventsPerRetry
}
