package pipeline

import (
	"context"
	"fmt"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Delete removes a video everywhere: vectors, chunk files, the upload, the
// record.
func (p *Pipeline) Delete(ctx context.Context, videoID string) error {
	v, err := p.Catalog.Get(ctx, videoID)
	if err != nil {
		return err
	}
	if v.UploadID != "" {
		if err := p.Blobs.AbortMultipart(ctx, v.Key, v.UploadID); err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound {
			return err
		}
	}
	if err := p.Index.DeleteVideo(ctx, v.ID); err != nil {
		return err
	}
	if err := p.Blobs.DeletePrefix(ctx, fmt.Sprintf("%s%s/", scenedex.ChunksPrefix, v.ID)); err != nil {
		return err
	}
	if err := p.Blobs.Delete(ctx, v.Key); err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		return err
	}
	return p.Catalog.Delete(ctx, v.ID)
}
