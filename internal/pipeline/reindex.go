package pipeline

import (
	"context"
	"fmt"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// ReindexRequest selects what to re-embed: one video, or every READY video
// of a collection ("" = all collections).
type ReindexRequest struct {
	Collection string `json:"collection,omitempty"`
	VideoID    string `json:"video_id,omitempty"`
	// Model switches every video to another model (a pulled model's name or
	// a model folder, locally): see SwitchModel.
	Model string `json:"model,omitempty"`
}

// ReindexResult says how much work was queued.
type ReindexResult struct {
	Videos  int `json:"videos"`
	Chunks  int `json:"chunks"`
	Missing int `json:"missing"` // chunks without an indexed doc (nothing to re-embed from)
	// Model is the live vectors' model and Switch the switch under way, on
	// an answer to a request with Model.
	Model  string        `json:"model,omitempty"`
	Switch *SwitchStatus `json:"switch,omitempty"`
}

// reindexSwitch is a reindex to another model than the live one (or to
// one planErr says cannot be had): a model switch, always of every video.
func (p *Pipeline) reindexSwitch(ctx context.Context, req ReindexRequest, plan switchPlan, planErr error) (ReindexResult, error) {
	var res ReindexResult
	if req.Collection != "" || req.VideoID != "" {
		return res, scenedex.Errorf(scenedex.CodeInvalid, "a model switch re-embeds every video of every collection: vectors of two models "+
			"cannot be compared in one index; leave out the collection and the video id")
	}
	if planErr != nil {
		return res, planErr
	}
	st, err := p.startSwitch(ctx, plan)
	if err != nil {
		return res, err
	}
	res.Model, res.Switch = st.Model, st.Switch
	if st.Switch != nil {
		res.Chunks = st.Switch.Total
	}
	return res, nil
}

// reindexBatch is how many chunks go to the queue per send.
const reindexBatch = 100

// Reindex re-embeds the selected chunks from their stored frames — no
// re-cutting — and reads their words again: each indexed chunk goes back on
// the embed queue, and the worker replaces its doc in place. Until a chunk's
// new doc is written, search answers from the old one; the queue is durable
// (SQS, or the local queue), so a crash loses nothing and a second call
// only repeats work. This is how videos indexed before OCR get their words.
// With Model another than the live one it is a model switch (SwitchModel),
// always of every video; with the live model it re-embeds the selection in
// place.
func (p *Pipeline) Reindex(ctx context.Context, req ReindexRequest) (ReindexResult, error) {
	var res ReindexResult
	if req.Model != "" {
		if plan, err := p.planSwitch(ctx, req.Model); err != nil || !plan.inPlace() {
			return p.reindexSwitch(ctx, req, plan, err)
		}
	}
	if p.Sender == nil {
		return res, scenedex.Errorf(scenedex.CodeUnsupported, "reindex needs the chunk queue, which this deployment does not give the API")
	}
	if req.Collection != "" && !scenedex.ValidCollection(req.Collection) {
		return res, scenedex.Errorf(scenedex.CodeInvalid, "collection %q is invalid", req.Collection)
	}
	var videos []scenedex.Video
	if req.VideoID != "" {
		v, err := p.Catalog.Get(ctx, req.VideoID)
		if err != nil {
			return res, err
		}
		if v.Status != scenedex.StatusReady {
			return res, scenedex.Errorf(scenedex.CodeConflict, "video %s is %s: only READY videos are re-indexed", v.ID, v.Status)
		}
		videos = []scenedex.Video{v}
	} else {
		q := scenedex.ListQuery{Collection: req.Collection, Limit: scenedex.MaxListLimit}
		for {
			page, err := p.Catalog.List(ctx, q)
			if err != nil {
				return res, err
			}
			for _, v := range page.Videos {
				if v.Status == scenedex.StatusReady {
					videos = append(videos, v)
				}
			}
			if q.Cursor = page.Next; q.Cursor == "" {
				break
			}
		}
	}
	run := newID()
	out := &batchSender{s: p.Sender, what: "reindex"}
	for _, v := range videos {
		res.Videos++
		for i := range v.ChunksTotal {
			d, err := p.Index.Get(ctx, scenedex.ChunkID(v.ID, i))
			if scenedex.ErrorCode(err) == scenedex.CodeNotFound {
				res.Missing++
				continue
			}
			if err != nil {
				return res, fmt.Errorf("reindex %s: %w", v.ID, err)
			}
			c := d.Chunk
			c.Run = run
			if err := out.add(ctx, c); err != nil {
				return res, err
			}
		}
	}
	err := out.flush(ctx)
	res.Chunks = out.sent
	if err != nil {
		return res, err
	}
	p.Log.Info("reindex queued", "videos", res.Videos, "chunks", res.Chunks, "missing", res.Missing)
	return res, nil
}

// batchSender queues chunks reindexBatch at a time.
type batchSender struct {
	s     scenedex.ChunkSender
	what  string // for errors
	batch []scenedex.Chunk
	sent  int
}

func (b *batchSender) add(ctx context.Context, c scenedex.Chunk) error {
	if b.batch = append(b.batch, c); len(b.batch) < reindexBatch {
		return nil
	}
	return b.flush(ctx)
}

func (b *batchSender) flush(ctx context.Context) error {
	if len(b.batch) == 0 {
		return nil
	}
	if err := b.s.SendChunks(ctx, b.batch); err != nil {
		return fmt.Errorf("%s: queue chunks: %w", b.what, err)
	}
	b.sent += len(b.batch)
	b.batch = b.batch[:0]
	return nil
}
