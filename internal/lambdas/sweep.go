package lambdas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// SweepResult reports what a sweep did.
type SweepResult struct {
	Failed  int `json:"failed"`  // uploads that never arrived
	Started int `json:"started"` // uploads that arrived but whose run never started
	Deleted int `json:"deleted"` // deletes cut short, completed
}

// DeleteGrace is how old a tombstone (a DELETING video) must be for the
// sweep to take it for a delete cut short: longer than the API function's
// timeout, so a delete under way is left to its own request.
const DeleteGrace = 5 * time.Minute

// Sweep runs on a schedule: deletes cut short (a function timed out or
// crashed after writing the tombstone) are completed, and uploads whose URLs
// expired without the object ever arriving end FAILED (and their multipart
// uploads are aborted), so no video stays UPLOADING or DELETING forever. The
// local runner does the same.
func (f *Functions) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	deleting, err := f.Stale.Stale(ctx, scenedex.StatusDeleting, time.Now().Add(-DeleteGrace))
	if err != nil {
		return res, err
	}
	for _, v := range deleting {
		if err := f.P.ResumeDelete(ctx, v); err != nil {
			f.Log.Warn("sweep: a delete cut short could not be completed; next sweep tries again", "video", v.ID, "err", err)
			continue
		}
		f.Log.Warn("sweep: completed a delete cut short", "video", v.ID, "key", v.Key)
		res.Deleted++
	}
	cfg := f.P.Config()
	stale, err := f.Stale.Stale(ctx, scenedex.StatusUploading, time.Now().Add(-cfg.UploadTTL))
	if err != nil {
		return res, err
	}
	for _, v := range stale {
		if !cfg.UploadAbandoned(v, time.Now()) {
			continue // a large multipart upload still has time
		}
		// The object may be there after all, its event lost (EventBridge
		// gives up on a failing target after its retries): then it is not
		// abandoned but unstarted, and its run starts now, named as the live
		// event's would be.
		info, err := f.P.Blobs.Head(ctx, v.Key)
		switch {
		case err == nil:
			if err := f.startFor(ctx, v, info); err != nil {
				return res, err
			}
			res.Started++
			continue
		case scenedex.ErrorCode(err) != scenedex.CodeNotFound:
			f.Log.Warn("sweep: cannot tell whether the upload arrived; next sweep tries again", "video", v.ID, "err", err)
			continue
		}
		if v.UploadID != "" {
			if err := f.P.Blobs.AbortMultipart(ctx, v.Key, v.UploadID); err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound {
				f.Log.Warn("abort multipart upload", "video", v.ID, "err", err)
			}
		}
		if _, err := f.P.MarkFailed(ctx, v.ID, pipeline.AbandonedReason); err != nil {
			return res, err
		}
		res.Failed++
	}
	return res, nil
}

// startFor starts the workflow run of v's object as its Object Created event
// would have.
func (f *Functions) startFor(ctx context.Context, v scenedex.Video, info scenedex.ObjectInfo) error {
	d := f.detail(v.Key, info.Size, info.ETag, "Sweep")
	started, err := f.startRun(ctx, d, ExecutionName(d))
	if err != nil {
		return fmt.Errorf("sweep: start the run of %s: %w", v.ID, err)
	}
	f.Log.Warn("sweep: the upload had arrived without starting its run", "video", v.ID, "key", v.Key, "started", started)
	return nil
}

// Rerun starts a new run for an object (pipeline.Reprocess): named after the
// object and tag, since the object's first run has taken its plain name.
func (f *Functions) Rerun(ctx context.Context, key string, size int64, etag, tag string) error {
	d := f.detail(key, size, etag, "Reprocess")
	name := ExecutionName(d)
	sum := sha256.Sum256([]byte(name + "\x00" + tag))
	name = name[:len(name)-33] + "-r" + hex.EncodeToString(sum[:])[:31]
	_, err := f.startRun(ctx, d, name)
	return err
}

// detail is the Object Created detail S3 sends for an object of the bucket.
func (f *Functions) detail(key string, size int64, etag, reason string) S3ObjectCreated {
	var d S3ObjectCreated
	d.Bucket.Name = f.Bucket
	d.Object.Key = url.QueryEscape(key)
	d.Object.Size = size
	d.Object.ETag = strings.Trim(etag, `"`)
	d.Reason = reason
	return d
}

// startRun starts the workflow with the EventBridge event of d, as name.
func (f *Functions) startRun(ctx context.Context, d S3ObjectCreated, name string) (bool, error) {
	detail, err := json.Marshal(d)
	if err != nil {
		return false, err
	}
	input, err := json.Marshal(events.EventBridgeEvent{Version: "0", DetailType: "Object Created", Source: "aws.s3",
		Time: time.Now().UTC(), Resources: []string{"arn:aws:s3:::" + f.Bucket}, Detail: detail})
	if err != nil {
		return false, err
	}
	if f.Starter == nil {
		return false, scenedex.Errorf(scenedex.CodeUnsupported, "this function cannot start workflow runs")
	}
	return f.Starter.Start(ctx, name, input)
}
