package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Delete removes a video everywhere: vectors, chunk files, the upload, the
// record. The record becomes the delete's tombstone first (DELETING,
// committed before anything is removed, removed last), so a delete cut short
// by a crash is completed by ResumeDelete, and meanwhile no step works for the
// video and search leaves it out. Deleting a DELETING video resumes its delete.
func (p *Pipeline) Delete(ctx context.Context, videoID string) error {
	v, err := p.tombstone(ctx, videoID, scenedex.StageDeleting)
	if err != nil {
		return err
	}
	return p.ResumeDelete(ctx, v)
}

// tombstone marks a video DELETING, stage saying what goes with it, and
// returns the record; a video already DELETING is returned as it is.
func (p *Pipeline) tombstone(ctx context.Context, id, stage string) (scenedex.Video, error) {
	v, err := p.Catalog.Update(ctx, id, func(v *scenedex.Video) error {
		v.Status, v.Stage = scenedex.StatusDeleting, stage
		return nil
	})
	if scenedex.ErrorCode(err) == scenedex.CodeNotFound {
		if cur, gerr := p.Catalog.Get(ctx, id); gerr == nil && cur.Status == scenedex.StatusDeleting {
			return cur, nil
		}
	}
	return v, err
}

// ResumeDelete completes the delete whose tombstone v is (a DELETING
// record): the video's work in flight ends, then what it made goes, its
// object too when the tombstone says so (StageDeleting), and the record last.
// Every part is idempotent, so a delete resumed twice at once (the API's, and
// the Object Deleted event it causes; a restart's and the sweep's) ends
// removed.
func (p *Pipeline) ResumeDelete(ctx context.Context, v scenedex.Video) error {
	if v.Status != scenedex.StatusDeleting {
		return fmt.Errorf("resume delete of %s: the video is %s, not DELETING", v.ID, v.Status)
	}
	return p.finish(ctx, v, v.Stage == scenedex.StageDeleting)
}

// finish ends the work in flight of v, a tombstone, and removes it (its
// object too, withUpload).
func (p *Pipeline) finish(ctx context.Context, v scenedex.Video, withUpload bool) error {
	if p.Work != nil {
		p.Work.CancelWork(ctx, v.ID)
	}
	if err := p.remove(ctx, v, withUpload); err != nil {
		return fmt.Errorf("delete video %s: %w", v.ID, err)
	}
	return nil
}

// remove deletes what v made and its record; withUpload deletes its object
// too. v's record is its tombstone: it goes last.
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

// video is the record of a video a step works on; a DELETING one is gone
// to it (scenedex.BeingDeleted).
func (p *Pipeline) video(ctx context.Context, id string) (scenedex.Video, error) {
	v, err := p.Catalog.Get(ctx, id)
	if err == nil && v.Status == scenedex.StatusDeleting {
		return v, scenedex.BeingDeleted(id)
	}
	return v, err
}

// Gone reports whether err says the video's record no longer exists, or is
// the tombstone of a delete (it was deleted while a step ran) and, if so,
// removes what the step made for it meanwhile, so no file or document
// outlives the video.
func (p *Pipeline) Gone(ctx context.Context, videoID string, err error) bool {
	if scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		return false
	}
	if _, gerr := p.video(ctx, videoID); scenedex.ErrorCode(gerr) != scenedex.CodeNotFound {
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
// bytes), stays; one already DELETING has its delete completed (a delete cut
// short, its event redelivered). It returns how many videos were removed.
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
		if v.Status != scenedex.StatusDeleting {
			info, err := p.Blobs.Head(ctx, v.Key)
			switch {
			case err == nil && v.ETag != "" && strings.Trim(info.ETag, `"`) == strings.Trim(v.ETag, `"`):
				continue // back, with the bytes this video was made from
			case err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound:
				return n, err
			}
			if v, err = p.tombstone(ctx, v.ID, scenedex.StageRetiring); scenedex.ErrorCode(err) == scenedex.CodeNotFound {
				continue // removed meanwhile
			} else if err != nil {
				return n, err
			}
		}
		// The object is gone: the delete leaves it be, whatever the
		// tombstone says (deleting it again needs a right forget has not).
		if err := p.finish(ctx, v, false); err != nil {
			return n, err
		}
		p.Log.Info("video removed: its object was deleted", "video", v.ID, "key", v.Key)
		n++
	}
	return n, nil
}
