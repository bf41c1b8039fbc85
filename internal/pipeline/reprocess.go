package pipeline

import (
	"context"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Reprocess gives a FAILED video another run: its object must still be
// there; the record goes back to UPLOADING (the run registers it as a new
// arrival) and a new run of the workflow starts. Chunks already embedded keep
// their documents and done-marks: a retried chunk id overwrites, never
// duplicates. READY videos are re-indexed instead (Reindex).
func (p *Pipeline) Reprocess(ctx context.Context, videoID string) (scenedex.Video, error) {
	if p.Rerunner == nil {
		return scenedex.Video{}, scenedex.Errorf(scenedex.CodeUnsupported, "reprocess needs the workflow, which this deployment does not give the API")
	}
	v, err := p.Catalog.Get(ctx, videoID)
	if err != nil {
		return v, err
	}
	if v.Status != scenedex.StatusFailed {
		return v, scenedex.Errorf(scenedex.CodeConflict, "video %s is %s: only FAILED videos are reprocessed (re-index a READY one)", v.ID, v.Status)
	}
	info, err := p.Blobs.Head(ctx, v.Key)
	if scenedex.ErrorCode(err) == scenedex.CodeNotFound {
		return v, scenedex.Errorf(scenedex.CodeNotFound, "the upload of video %s is gone from the bucket: upload the file again", v.ID)
	}
	if err != nil {
		return v, err
	}
	run := newID()
	v, err = p.Catalog.Update(ctx, videoID, func(v *scenedex.Video) error {
		if v.Status != scenedex.StatusFailed {
			return scenedex.Errorf(scenedex.CodeConflict, "video %s is %s already", v.ID, v.Status)
		}
		v.Status, v.Stage, v.Reason, v.Size, v.ETag, v.Run = scenedex.StatusUploading, "reprocessing", "", info.Size, info.ETag, run
		return nil
	})
	if err != nil {
		return v, err
	}
	if err := p.Rerunner.Rerun(ctx, v.Key, info.Size, info.ETag, run); err != nil {
		// Nothing will pick the video up: put it back as it was.
		p.MarkFailed(ctx, v.ID, "reprocess could not start: "+scenedex.Message(err))
		return v, err
	}
	p.Log.Info("reprocess started", "video", v.ID)
	return v, nil
}
