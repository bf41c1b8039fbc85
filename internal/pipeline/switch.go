package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/vector"
)

// ModelStatus is the body of GET /v1/reindex: the model of the live vectors
// (search embeds queries with it) and the switch under way, if any.
type ModelStatus struct {
	Model  string        `json:"model"` // "" while the index has recorded none
	Switch *SwitchStatus `json:"switch,omitempty"`
}

// SwitchStatus is a model switch and how far it is: Done of Total docs
// have their next vector.
type SwitchStatus struct {
	scenedex.ModelSwitch
	Done  int `json:"done"`
	Total int `json:"total"`
}

// switcher is the index's switching side and the model server's models, or
// a CodeUnsupported error saying what is missing.
func (p *Pipeline) switcher() (scenedex.ModelSwitcher, error) {
	sw, ok := p.Index.(scenedex.ModelSwitcher)
	switch {
	case !ok:
		return nil, scenedex.Errorf(scenedex.CodeUnsupported, "this index cannot hold a second model's vectors, so the model cannot be switched in place")
	case p.Models == nil:
		return nil, scenedex.Errorf(scenedex.CodeUnsupported, "switching models needs a model server that serves both the old and the new model "+
			"(scenedex's own: serve without --model-url)")
	case p.Sender == nil:
		return nil, scenedex.Errorf(scenedex.CodeUnsupported, "switching models needs the chunk queue, which this deployment does not give the API")
	}
	return sw, nil
}

// underWay is the index's switching side and the switch under way; no
// switch (nil) where the index cannot switch, the model server serves one
// model, or none is under way.
func (p *Pipeline) underWay(ctx context.Context) (scenedex.ModelSwitcher, *scenedex.ModelSwitch, error) {
	sw, ok := p.Index.(scenedex.ModelSwitcher)
	if !ok || p.Models == nil {
		return nil, nil, nil
	}
	s, err := sw.Switch(ctx)
	return sw, s, err
}

// liveEmbedder embeds with the model of the live vectors: queries, and the
// live vector of each new chunk. Where the model server serves one model, or
// the index has recorded none, that is the endpoint's default.
func (p *Pipeline) liveEmbedder(ctx context.Context) scenedex.Embedder {
	sw, ok := p.Index.(scenedex.ModelSwitcher)
	if !ok || p.Models == nil {
		return p.Embedder
	}
	live, _, err := sw.LiveModel(ctx)
	if err != nil || live == "" {
		return p.Embedder
	}
	return p.Models.Embedder(live)
}

// ModelStatus says which model the live vectors come from and how far a
// switch is; a switch whose last doc was deleted ends here.
func (p *Pipeline) ModelStatus(ctx context.Context) (ModelStatus, error) {
	var st ModelStatus
	sw, err := p.switcher()
	if err != nil {
		return st, err
	}
	if err := p.maybePromote(ctx, sw); err != nil {
		return st, err
	}
	live, _, err := sw.LiveModel(ctx)
	if err != nil {
		return st, err
	}
	st.Model = live
	s, err := sw.Switch(ctx)
	if err != nil || s == nil {
		return st, err
	}
	done, total, err := sw.SwitchProgress(ctx)
	if err != nil {
		return st, err
	}
	st.Switch = &SwitchStatus{ModelSwitch: *s, Done: done, Total: total}
	return st, nil
}

// SwitchModel starts (or resumes) re-embedding every indexed chunk with
// another model, from its stored frames: the model server loads target
// (a model name or folder) beside the live model, every doc is queued for
// its next vector, new chunks get both, and when every doc has its next
// vector those become the live ones in one step. Until then search answers
// from the live vectors with the live model. The queue is durable and the
// switch is recorded in the index, so after a crash the same call (or a
// restart) goes on where it was; repeating it only repeats work.
func (p *Pipeline) SwitchModel(ctx context.Context, target string) (ModelStatus, error) {
	plan, err := p.planSwitch(ctx, target)
	if err != nil {
		return ModelStatus{}, err
	}
	return p.startSwitch(ctx, plan)
}

// switchPlan is a switch's target resolved against the index's state.
type switchPlan struct {
	sw                 scenedex.ModelSwitcher
	cur                *scenedex.ModelSwitch // the switch under way, or nil
	name, source, live string                // the target's name and source; the live model
}

// inPlace reports whether the target is the live model, with no switch
// under way: nothing to switch.
func (sp switchPlan) inPlace() bool { return sp.cur == nil && sp.name == sp.live }

// planSwitch makes the model server serve target and reads the index's
// switch and live model.
func (p *Pipeline) planSwitch(ctx context.Context, target string) (switchPlan, error) {
	var sp switchPlan
	var err error
	if sp.sw, err = p.switcher(); err != nil {
		return sp, err
	}
	if sp.cur, err = sp.sw.Switch(ctx); err != nil {
		return sp, err
	}
	if sp.name, sp.source, err = p.Models.Load(ctx, target); err != nil {
		return sp, err
	}
	sp.live, _, err = sp.sw.LiveModel(ctx)
	return sp, err
}

// startSwitch begins (or resumes) the planned switch.
func (p *Pipeline) startSwitch(ctx context.Context, sp switchPlan) (ModelStatus, error) {
	if sp.cur != nil && sp.cur.To != sp.name {
		return ModelStatus{}, scenedex.Errorf(scenedex.CodeConflict, "a switch from %s to %s is under way: let it finish "+
			"(`scenedex reindex --status`), or cancel it (`scenedex reindex --cancel`) before switching to %s", sp.cur.From, sp.cur.To, sp.name)
	}
	if sp.inPlace() {
		return ModelStatus{}, scenedex.Errorf(scenedex.CodeConflict, "the index is already on model %s; `scenedex reindex` without --model re-embeds in place", sp.name)
	}
	s := scenedex.ModelSwitch{From: sp.live, To: sp.name, Source: sp.source, Started: time.Now().UTC()}
	if sp.cur != nil {
		s = *sp.cur
	}
	if err := sp.sw.BeginSwitch(ctx, s); err != nil {
		return ModelStatus{}, err
	}
	if !s.Queued {
		// Again after a restart or a repeated request: a page queued
		// twice only embeds its chunks twice.
		if err := p.queueFirstPage(ctx, sp.name); err != nil {
			return ModelStatus{}, err
		}
		p.Log.Info("model switch started", "from", orNone(s.From), "to", sp.name)
	}
	return p.ModelStatus(ctx)
}

// ResumeSwitch loads a switch's next model again after a restart and
// finishes queueing if the process stopped halfway; nothing under way:
// nothing to do.
func (p *Pipeline) ResumeSwitch(ctx context.Context) error {
	_, s, err := p.underWay(ctx)
	if err != nil || s == nil {
		return err
	}
	target := s.Source
	if target == "" {
		target = s.To
	}
	if _, err := p.SwitchModel(ctx, target); err != nil {
		return fmt.Errorf("resume the switch from %s to %s: %w", orNone(s.From), s.To, err)
	}
	return nil
}

// CancelSwitch ends a switch under way and drops the vectors it made; the
// live vectors are untouched. Messages still queued for it are dropped when
// they come.
func (p *Pipeline) CancelSwitch(ctx context.Context) error {
	sw, err := p.switcher()
	if err != nil {
		return err
	}
	s, err := sw.Switch(ctx)
	if err != nil {
		return err
	}
	if s == nil {
		return scenedex.Errorf(scenedex.CodeNotFound, "no model switch is under way")
	}
	if err := sw.CancelSwitch(ctx); err != nil {
		return err
	}
	p.Log.Info("model switch cancelled", "from", orNone(s.From), "to", s.To)
	return nil
}

// firstPage is the cursor of a switch's first page message.
const firstPage = "start"

// SwitchMessage reports whether c is a model switch's message, which
// EmbedNext handles (not EmbedChunk): a page of the catalog to queue, or one
// chunk's next vector.
func SwitchMessage(c scenedex.Chunk) bool { return c.NextModel != "" }

// queueFirstPage sends the message that makes a switch queue the catalog,
// a page at a time, through the chunk queue: no request or function has to
// list a whole library in one go, and a page is queued again only if its
// message was not done.
func (p *Pipeline) queueFirstPage(ctx context.Context, model string) error {
	if err := p.Sender.SendChunks(ctx, []scenedex.Chunk{{NextModel: model, SwitchPage: firstPage, Run: newID()}}); err != nil {
		return fmt.Errorf("model switch: queue the catalog: %w", err)
	}
	return nil
}

// EmbedNext handles a model switch's message. A page message queues one
// message per chunk of a page of videos, then the next page's message — or,
// after the last page, records the switch as queued. A chunk message embeds
// the live doc's frames with the next model and stores that vector beside
// the live one (promoting the next vectors when it was the last). Messages of
// a switch no longer under way, and chunks not indexed (they get both vectors
// when they are) or gone, are dropped.
func (p *Pipeline) EmbedNext(ctx context.Context, c scenedex.Chunk) error {
	sw, s, err := p.underWay(ctx)
	if err != nil {
		return err
	}
	if s == nil || s.To != c.NextModel {
		p.Log.Debug("dropping a message of a switch no longer under way", "chunk", c.ID(), "model", c.NextModel)
		return nil
	}
	if c.SwitchPage != "" {
		return p.queueSwitchPage(ctx, sw, c)
	}
	d, err := p.Index.Get(ctx, c.ID())
	if scenedex.ErrorCode(err) == scenedex.CodeNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	images, err := p.readFrames(ctx, embedKeys(d.Chunk))
	if err != nil {
		return err
	}
	return p.storeNext(ctx, sw, s, d, images)
}

// queueSwitchPage queues the chunks of the page of videos page names.
func (p *Pipeline) queueSwitchPage(ctx context.Context, sw scenedex.ModelSwitcher, page scenedex.Chunk) error {
	if p.Sender == nil {
		return scenedex.Errorf(scenedex.CodeUnsupported, "model switch: no chunk queue to queue the page's chunks on (the embed function needs CHUNK_QUEUE_URL)")
	}
	q := scenedex.ListQuery{Limit: p.cfg.SwitchPage}
	if page.SwitchPage != firstPage {
		q.Cursor = page.SwitchPage
	}
	videos, err := p.Catalog.List(ctx, q)
	if err != nil {
		return err
	}
	out := &batchSender{s: p.Sender, what: "model switch"}
	for _, v := range videos.Videos {
		for i := range v.ChunksTotal {
			if err := out.add(ctx, scenedex.Chunk{VideoID: v.ID, Index: i, NextModel: page.NextModel, Run: page.Run}); err != nil {
				return err
			}
		}
	}
	if err := out.flush(ctx); err != nil {
		return err
	}
	if videos.Next != "" {
		next := scenedex.Chunk{NextModel: page.NextModel, SwitchPage: videos.Next, Run: newID()}
		if err := p.Sender.SendChunks(ctx, []scenedex.Chunk{next}); err != nil {
			return fmt.Errorf("model switch: queue the next page: %w", err)
		}
		return nil
	}
	if err := sw.SwitchQueued(ctx); err != nil {
		return err
	}
	p.Log.Info("model switch: every chunk queued", "to", page.NextModel)
	return p.maybePromote(ctx, sw)
}

// alsoNext gives doc, just indexed from images, its next vector too when a
// switch is under way.
func (p *Pipeline) alsoNext(ctx context.Context, doc scenedex.Doc, images [][]byte) error {
	sw, s, err := p.underWay(ctx)
	if err != nil || s == nil {
		return err
	}
	return p.storeNext(ctx, sw, s, doc, images)
}

// storeNext embeds images (live's frames) with the switch's next model and
// stores that vector with live, then promotes if it was the last.
func (p *Pipeline) storeNext(ctx context.Context, sw scenedex.ModelSwitcher, s *scenedex.ModelSwitch, live scenedex.Doc, images [][]byte) error {
	vecs, err := p.Models.Embedder(s.To).EmbedImages(ctx, images)
	if err != nil {
		return fmt.Errorf("embed %s with %s: %w", live.ID(), s.To, err)
	}
	live.Vector, live.Model = vector.Pool(vecs), s.To
	if err := sw.UpsertNext(ctx, live); err != nil {
		return fmt.Errorf("index %s's %s vector: %w", live.ID(), s.To, err)
	}
	return p.maybePromote(ctx, sw)
}

// maybePromote makes the next vectors live once every doc has one.
func (p *Pipeline) maybePromote(ctx context.Context, sw scenedex.ModelSwitcher) error {
	s, err := sw.Switch(ctx)
	if err != nil || s == nil || !s.Queued {
		return err
	}
	done, total, err := sw.SwitchProgress(ctx)
	if err != nil || done < total {
		return err
	}
	ok, err := sw.Promote(ctx)
	if err != nil {
		return err
	}
	if ok {
		p.Log.Info("model switch complete: search now answers with the new model", "from", orNone(s.From), "to", s.To, "chunks", total)
	}
	return nil
}

func orNone(model string) string {
	if model == "" {
		return "(unrecorded)"
	}
	return model
}
