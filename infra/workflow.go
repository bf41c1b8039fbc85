package main

import (
	"encoding/json"
	"strings"
)

// Names of the functions the workflow calls; DefinitionSubstitutions maps
// "${<Name>Arn}" to each function's ARN.
var workflowFunctions = []string{"Probe", "Chunk", "Await", "Finalize", "Fail"}

// WorkflowOptions tunes the state machine.
type WorkflowOptions struct {
	MapConcurrency  int // windows cut at once per video
	WaitTimeoutSecs int // longest wait for all embeddings of one video
	HeartbeatSecs   int // longest silence between two embedded chunks
}

// retryLambda retries the Lambda service's transient errors, timeouts of the
// invoke call and our Retryable, with exponential backoff and jitter — and
// throttling on a longer schedule: under a backlog the account's concurrency
// frees up in minutes, not seconds.
func retryLambda(extra ...string) []any {
	return []any{
		map[string]any{
			"ErrorEquals":     []string{"Lambda.TooManyRequestsException"},
			"IntervalSeconds": 10, "MaxAttempts": 8, "BackoffRate": 2.0, "MaxDelaySeconds": 300, "JitterStrategy": "FULL",
		},
		map[string]any{
			"ErrorEquals": append([]string{"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
				"Lambda.ClientExecutionTimeoutException", "Lambda.Unknown", "Retryable"}, extra...),
			"IntervalSeconds": 2, "MaxAttempts": 4, "BackoffRate": 2.0, "MaxDelaySeconds": 60, "JitterStrategy": "FULL",
		},
	}
}

// catchToFail sends a user's unusable file (Permanent) to MarkRejected — the
// video ends FAILED with its reason and the run succeeds, so nobody is paged
// for it — and any other error to MarkFailed, which fails the run.
var catchToFail = []any{
	map[string]any{"ErrorEquals": []string{"Permanent"}, "ResultPath": "$.error", "Next": "MarkRejected"},
	map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.error", "Next": "MarkFailed"},
}

// MaxWindows bounds the windows of one video: an inline Map writes about
// seven history events per item, and a run has 25,000. Probe refuses longer
// videos with a clear reason (pipeline.MaxWindows).
const MaxWindows = 2000

// WorkflowDefinition is the Amazon States Language of one video's ingest:
// Probe -> (duplicate? stop) -> Map(Chunk) -> WaitForEmbeddings (task token)
// -> Finalize, every step caught into MarkFailed.
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
					"States": map[string]any{"Chunk": map[string]any{
						"Type": "Task", "Resource": "${ChunkArn}", "Retry": retryLambda(), "End": true,
					}},
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
				"TimeoutSeconds": o.WaitTimeoutSecs, "HeartbeatSeconds": o.HeartbeatSecs,
				"ResultPath": nil, "Retry": retryLambda(), "Catch": catchToFail, "Next": "Finalize",
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

// RenderWorkflow substitutes ARNs into the definition (tests and tools; CDK
// does the same with DefinitionSubstitutions at deploy time).
func RenderWorkflow(def string, arns map[string]string) string {
	for name, arn := range arns {
		def = strings.ReplaceAll(def, "${"+name+"Arn}", arn)
	}
	return def
}
