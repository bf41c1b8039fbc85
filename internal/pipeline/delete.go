package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Delete removes a video everywhere: vectors, chunk files, the upload, the
// record.
func (p *Pipeline) Delete(ctx context.Context, videoID string) error {
	v, err := p.Catalog.Get(ctx, videoID)
	if err != nil {
		return err
	}
	return p.remove(ctx, v, true)
}

// remove deletes what v made and its record; withUpload deletes its object
// too. Every part is idempotent: a video removed twice at once (the API's
// delete, and the Object Deleted event that delete causes) ends removed.
func (p *Pipeline) remove(ctx context.Context, v scenedex.Video, withUpload bool) error {
	if v.UploadID != "" {
		if err := p.Blobs.AbortMultipart(ctx, v.Key, v.UploadID); err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound {
			return err
		}
	}
	if err := p.purge(ctx, v.ID); err != nil {
		return err
	}
	if sw, ok := p.Index.(scenedex.ModelSwitcher); ok {
		// The docs that were the last without a next vector may just
		// have gone.
		if err := p.maybePromote(ctx, sw); err != nil {
			return err
		}
	}
	if withUpload {
		if err := p.Blobs.Delete(ctx, v.Key); err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound {
			return err
		}
	}
	if err := p.Catalog.Delete(ctx, v.ID); err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		return err
	}
	return nil
}

// purge removes what a video's run made: its documents in the index and its
// chunk files (clips, thumbnails, frames).
func (p *Pipeline) purge(ctx context.Context, videoID string) error {
	if p.Index == nil || p.Blobs == nil {
		// A step wired without them (a function that never writes either).
		return fmt.Errorf("purge %s: this step has no index or bucket to clear", videoID)
	}
	if err := p.Index.DeleteVideo(ctx, videoID); err != nil {
		return err
	}
	return p.Blobs.DeletePrefix(ctx, fmt.Sprintf("%s%s/", scenedex.ChunksPrefix, videoID))
}

// Gone reports whether err says the video's record no longer exists (it was
// deleted while a step ran) and, if so, removes what the step made for it
// meanwhile, so no file or document outlives the video.
func (p *Pipeline) Gone(ctx context.Context, videoID string, err error) bool {
	if scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		return false
	}
	if _, gerr := p.Catalog.Get(ctx, videoID); scenedex.ErrorCode(gerr) != scenedex.CodeNotFound {
		return false // another thing was not found
	}
	if perr := p.purge(ctx, videoID); perr != nil {
		p.Log.Warn("clearing up after a deleted video", "video", videoID, "err", perr)
	}
	return true
}

// ErrGone says the step's video (or its object) was deleted while it ran:
// nothing is left to do, and nothing of it was left behind. Its code is
// CodeNotFound.
var ErrGone = scenedex.Errorf(scenedex.CodeNotFound, "the video (or its object) was deleted while this step ran")

// Forget follows the deletion of an object: every video made from it is
// removed — documents, words, chunk files, record. A video whose object is
// there again, unchanged (the event is older than a new write of the same
// bytes), stays. It returns how many videos were removed.
func (p *Pipeline) Forget(ctx context.Context, ev scenedex.ObjectDeleted) (int, error) {
	if !strings.HasPrefix(ev.Key, scenedex.UploadsPrefix) {
		return 0, nil
	}
	vs, err := p.Catalog.ByKey(ctx, ev.Key)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range vs {
		info, err := p.Blobs.Head(ctx, v.Key)
		switch {
		case err == nil && v.ETag != "" && strings.Trim(info.ETag, `"`) == strings.Trim(v.ETag, `"`):
			continue // back, with the bytes this video was made from
		case err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound:
			return n, err
		}
		if err := p.remove(ctx, v, false); err != nil {
			return n, err
		}
		p.Log.Info("video removed: its object was deleted", "video", v.ID, "key", v.Key)
		n++
	}
	return n, nil
}
