package lambdas

import (
	"context"
	"time"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// SweepResult reports what a sweep did.
type SweepResult struct {
	Failed int `json:"failed"`
}

// Sweep runs on a schedule: uploads whose URLs expired without the object
// ever arriving end FAILED (and their multipart uploads are aborted), so no
// video stays UPLOADING forever. The local runner does the same.
func (f *Functions) Sweep(ctx context.Context) (SweepResult, error) {
	cfg := f.P.Config()
	stale, err := f.Stale.Stale(ctx, scenedex.StatusUploading, time.Now().Add(-cfg.UploadTTL))
	if err != nil {
		return SweepResult{}, err
	}
	var res SweepResult
	for _, v := range stale {
		if !cfg.UploadAbandoned(v, time.Now()) {
			continue // a large multipart upload still has time
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
