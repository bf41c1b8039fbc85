package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strings"

	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/vector"
	"github.com/scenedex/scenedex/internal/words"
)

// ErrDuplicate is returned by Register for an event already handled: the same
// object version was registered before. The workflow stops without error.
var ErrDuplicate = errors.New("object version already registered")

// ErrFolder is returned by Register for a folder marker (a key ending in
// "/", as S3 consoles create): not a video, not a user's error; nothing to do.
var ErrFolder = fmt.Errorf("%w: a folder marker, not a file", ErrDuplicate)

// DropInID is the video id of an object that arrived without an API call: a
// hash of where it is and which version it is, so a repeated event maps to the
// same video.
func DropInID(ev scenedex.ObjectCreated) string {
	// Not the version id: a backfill lists none, and the same content must
	// get the same id however it is found.
	sum := sha256.Sum256([]byte(ev.Bucket + "\x00" + ev.Key + "\x00" + ev.ETag))
	return "d" + hex.EncodeToString(sum[:])[:19]
}

// Register turns an Object Created event into a PROCESSING video: the record
// made by CreateUpload when the key is one of ours, or a new record for a file
// dropped into the bucket (its collection is the first folder under uploads/).
func (p *Pipeline) Register(ctx context.Context, ev scenedex.ObjectCreated) (scenedex.Video, error) {
	if strings.HasSuffix(ev.Key, "/") {
		return scenedex.Video{}, ErrFolder
	}
	rest, ok := strings.CutPrefix(ev.Key, scenedex.UploadsPrefix)
	if !ok {
		return scenedex.Video{}, scenedex.Errorf(scenedex.CodeInvalid, "key %q is not under %s", ev.Key, scenedex.UploadsPrefix)
	}
	collection, name, _ := strings.Cut(rest, "/")
	id := ""
	var prev *scenedex.Video // the video an overwritten upload was
	if maybeID, _, ok := strings.Cut(name, "/"); ok {
		if v, err := p.Catalog.Get(ctx, maybeID); err == nil && v.Key == ev.Key {
			if newVersion(v, ev) {
				prev = &v
			} else {
				id = v.ID
			}
		}
	}
	if id == "" { // drop-in, or a new version of an object
		// An event for an object that is gone (deleted since; or a video
		// deleted while its run was retried) makes no record.
		info, err := p.Blobs.Head(ctx, ev.Key)
		switch {
		case scenedex.ErrorCode(err) == scenedex.CodeNotFound:
			return scenedex.Video{}, ErrGone
		case err != nil:
			return scenedex.Video{}, err
		case ev.ETag != "" && info.ETag != "" && strings.Trim(info.ETag, `"`) != strings.Trim(ev.ETag, `"`):
			// A late event of bytes overwritten since: the newer bytes' own
			// event makes their video.
			return scenedex.Video{}, ErrGone
		}
		id = DropInID(ev)
		v := scenedex.Video{ID: id, Collection: collection, Filename: path.Base(ev.Key), Key: ev.Key, Size: ev.Size,
			ETag: ev.ETag, Status: scenedex.StatusUploading, Metadata: map[string]string{"source": "drop-in"}}
		if !scenedex.ValidCollection(collection) {
			v.Collection = scenedex.DefaultCollection
		}
		if prev != nil {
			// Overwritten with other bytes: a new version of the video, as
			// it was described, processed beside the old one until it is
			// READY (Finalize then retires the old).
			v.Collection, v.Filename, v.ContentType, v.Metadata = prev.Collection, prev.Filename, prev.ContentType, prev.Metadata
			collection = prev.Collection
		}
		if err := p.Catalog.Create(ctx, v); err != nil && scenedex.ErrorCode(err) != scenedex.CodeConflict {
			return v, err
		}
		if !scenedex.ValidCollection(collection) {
			return v, scenedex.Errorf(scenedex.CodeInvalid, "dropped file %q: %q is not a valid collection name (lowercase letters, digits, '-', '_')", ev.Key, collection)
		}
	}
	var dup bool
	v, err := p.Catalog.Update(ctx, id, func(v *scenedex.Video) error {
		switch v.Status {
		case scenedex.StatusReady, scenedex.StatusFailed:
			// Processed already: a repeated event, or the object overwritten
			// afterwards (upload it as a new video to process it again).
			dup = true
		case scenedex.StatusProcessing:
			// A run that was interrupted (or retried) resumes: the chunk ids and
			// the done-marks it already has stay valid.
		default:
			v.Status, v.Stage, v.Reason = scenedex.StatusProcessing, "probing", ""
			v.Size, v.ETag = ev.Size, ev.ETag
		}
		return nil
	})
	if p.Gone(ctx, id, err) {
		return scenedex.Video{}, ErrGone
	}
	if err != nil {
		return v, err
	}
	if dup {
		return v, ErrDuplicate
	}
	if ev.Size == 0 {
		return v, scenedex.Errorf(scenedex.CodeNotVideo, "the file is empty (0 bytes)")
	}
	return v, nil
}

// newVersion reports whether ev is other bytes than the ones v was made
// from: the object was overwritten after it arrived.
func newVersion(v scenedex.Video, ev scenedex.ObjectCreated) bool {
	etag := strings.Trim(ev.ETag, `"`)
	return v.Status != scenedex.StatusUploading && etag != "" && v.ETag != "" && strings.Trim(v.ETag, `"`) != etag
}

// retire removes the older versions of v's object once v is READY: videos of
// the same key made from other bytes and created before v (a newer version
// still being processed stays, and retires v in its turn). Search answers
// from the old version until then, so an overwrite leaves no gap.
func (p *Pipeline) retire(ctx context.Context, v scenedex.Video) error {
	vs, err := p.Catalog.ByKey(ctx, v.Key)
	if err != nil {
		return err
	}
	for _, old := range vs {
		if old.ID == v.ID || !old.CreatedAt.Before(v.CreatedAt) || strings.Trim(old.ETag, `"`) == strings.Trim(v.ETag, `"`) {
			continue
		}
		t, err := p.tombstone(ctx, old.ID, scenedex.StageRetiring)
		if scenedex.ErrorCode(err) == scenedex.CodeNotFound {
			continue // removed meanwhile
		}
		if err != nil {
			return err
		}
		if err := p.ResumeDelete(ctx, t); err != nil {
			return err
		}
		p.Log.Info("older version retired", "video", old.ID, "by", v.ID, "key", v.Key)
	}
	return nil
}

// MaxWindows bounds the windows of one video (33 hours at the default 60 s):
// the cloud workflow's Map writes a few history events per window, and a run
// has 25,000.
const MaxWindows = 2000

// decoder is what Media may also tell: whether it can decode a codec.
type decoder interface {
	Decodes(ctx context.Context, codec string) bool
}

// decodable refuses, up front and clearly, a video whose codec this
// deployment's ffmpeg cannot decode (AV1 with the Lambda layer's build),
// instead of failing it half-way through chunking.
func (p *Pipeline) decodable(ctx context.Context, pr ffmpeg.Probe) error {
	if d, ok := p.Media.(decoder); ok && !d.Decodes(ctx, pr.Video.Codec) {
		return scenedex.Errorf(scenedex.CodeUnsupported, "%s video cannot be decoded by this deployment's ffmpeg; re-encode it to H.264, HEVC or VP9 and upload it again",
			strings.ToUpper(pr.Video.Codec))
	}
	return nil
}

// tooLong refuses a plan of more than MaxWindows windows, clearly.
func tooLong(plan scenedex.Plan) error {
	if len(plan.Windows) <= MaxWindows {
		return nil
	}
	win := plan.ChunkSeconds * float64(plan.ChunksPerWin)
	return scenedex.Errorf(scenedex.CodeTooLarge, "the video is %.1f hours long: scenedex takes up to %.1f hours (%d windows of %.0f s); split it",
		plan.Duration/3600, float64(MaxWindows)*win/3600, MaxWindows, win)
}

// MaxFrameSide and MaxFramePixels bound the frame size of a video: 8K (DCI
// 8K is 8192×4320). A frame is decoded whole before any scaling — PNG,
// ProRes and most codecs cannot be decoded at a reduced size — so a bigger
// frame cannot be made cheap by scaling it down in the decode; refusing it
// from the probe is what bounds the memory (a 16000×16000 PNG frame is
// 1 GiB decoded, and ffmpeg holds several in flight). Below the limit,
// frames are scaled to FrameWidth and EmbedEdge as they are decoded, and
// re-encoded clips to ffmpeg.MaxClipSide.
const (
	MaxFrameSide   = 8192
	MaxFramePixels = 8192 * 4320
)

// frameTooLarge refuses, from the probe and before any frame is decoded, a
// video whose frames exceed MaxFrameSide or MaxFramePixels.
func frameTooLarge(pr ffmpeg.Probe) error {
	w, h := pr.Video.Width, pr.Video.Height
	if w <= MaxFrameSide && h <= MaxFrameSide && int64(w)*int64(h) <= MaxFramePixels {
		return nil
	}
	return scenedex.Errorf(scenedex.CodeTooLarge, "frame size %d×%d exceeds the limit of %d pixels a side and %.1f megapixels (8K); scale the video down and upload it again",
		w, h, MaxFrameSide, float64(MaxFramePixels)/1e6)
}

// copyableVideo are codecs MP4 holds as they are, so chunks are stream copies.
var copyableVideo = map[string]bool{"h264": true, "hevc": true, "mpeg4": true, "av1": true, "vp9": true}

// copyableAudio are audio codecs MP4 holds as they are.
var copyableAudio = map[string]bool{"aac": true, "mp3": true, "ac3": true, "eac3": true, "alac": true}

// Probe runs ffprobe on a presigned GET of the video and plans its windows.
func (p *Pipeline) Probe(ctx context.Context, v scenedex.Video) (scenedex.Plan, error) {
	url, err := p.Blobs.PresignGet(ctx, v.Key, p.cfg.ReadTTL)
	if err != nil {
		return scenedex.Plan{}, err
	}
	pr, err := p.Media.Probe(ctx, url)
	if err != nil {
		return scenedex.Plan{}, fmt.Errorf("probe %s: %w", v.ID, err)
	}
	if err := p.decodable(ctx, pr); err != nil {
		return scenedex.Plan{}, err
	}
	if err := frameTooLarge(pr); err != nil {
		return scenedex.Plan{}, err
	}
	if pr.HeaderDuration > 0 {
		p.Log.Warn("the video's headers claim more than its pictures hold: planned from the pictures", "video", v.ID,
			"headers", pr.HeaderDuration, "pictures", pr.Duration)
	}
	plan := p.plan(v.ID, pr)
	if err := tooLong(plan); err != nil {
		return scenedex.Plan{}, err
	}
	_, err = p.Catalog.Update(ctx, v.ID, func(v *scenedex.Video) error {
		v.Duration, v.Width, v.Height, v.Stage = pr.Duration, pr.Video.Width, pr.Video.Height, "chunking"
		return nil
	})
	if p.Gone(ctx, v.ID, err) {
		return scenedex.Plan{}, ErrGone
	}
	return plan, err
}

func (p *Pipeline) plan(videoID string, pr ffmpeg.Probe) scenedex.Plan {
	win := p.cfg.ChunkSeconds * float64(p.cfg.WindowChunks)
	plan := scenedex.Plan{
		VideoID: videoID, Duration: pr.Duration, ChunkSeconds: p.cfg.ChunkSeconds, ChunksPerWin: p.cfg.WindowChunks,
		CopyVideo: copyableVideo[pr.Video.Codec], HasAudio: pr.Audio != nil, FramesPerChunk: p.cfg.FramesPerChunk,
	}
	if pr.Audio != nil {
		plan.CopyAudio = copyableAudio[pr.Audio.Codec]
	}
	n := int(math.Ceil(pr.Duration / win))
	for i := range n {
		start := float64(i) * win
		end := math.Min(start+win, pr.Duration)
		if end-start < 0.05 && i > 0 { // a sliver past the last full window joins it
			plan.Windows[i-1].End = end
			continue
		}
		plan.Windows = append(plan.Windows, scenedex.Window{Index: i, Start: start, End: end})
	}
	return plan
}

// ChunkWindow cuts one window (reading a presigned GET, never the whole file),
// stores clips, thumbnails and frames under chunks/<video>/ and sends one
// message per chunk. Chunk numbers are window*ChunksPerWin + position, so a
// retried window produces the same ids.
func (p *Pipeline) ChunkWindow(ctx context.Context, v scenedex.Video, plan scenedex.Plan, w scenedex.Window) ([]scenedex.Chunk, error) {
	url, err := p.Blobs.PresignGet(ctx, v.Key, p.cfg.ReadTTL)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(p.cfg.WorkDir, "scenedex-cut-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	pieces, err := p.Media.Cut(ctx, ffmpeg.CutSpec{
		Input: url, Start: w.Start, Duration: w.End - w.Start, ChunkSeconds: plan.ChunkSeconds, MaxChunks: plan.ChunksPerWin,
		CopyVideo: plan.CopyVideo, HasAudio: plan.HasAudio, CopyAudio: plan.CopyAudio,
		FramesPerChunk: plan.FramesPerChunk, FrameWidth: p.cfg.FrameWidth, EmbedEdge: max(p.cfg.EmbedEdge, 0), Dir: dir,
	})
	if err != nil {
		return nil, fmt.Errorf("chunk %s window %d: %w", v.ID, w.Index, err)
	}
	chunks := make([]scenedex.Chunk, 0, len(pieces))
	for _, pc := range pieces {
		c := scenedex.Chunk{VideoID: v.ID, Index: w.Index*plan.ChunksPerWin + pc.Index, Start: pc.Start, End: pc.End,
			Collection: v.Collection, Filename: v.Filename, Metadata: v.Metadata, Run: v.Run}
		prefix := fmt.Sprintf("%s%s/%05d/", scenedex.ChunksPrefix, v.ID, c.Index)
		c.ClipKey = prefix + "clip.mp4"
		if err := p.putFile(ctx, c.ClipKey, pc.Clip, "video/mp4"); err != nil {
			return nil, err
		}
		for i, f := range pc.Frames {
			key := fmt.Sprintf("%sframe-%02d.jpg", prefix, i)
			if err := p.putFile(ctx, key, f.Path, "image/jpeg"); err != nil {
				return nil, err
			}
			c.FrameKeys = append(c.FrameKeys, key)
			c.FrameTimes = append(c.FrameTimes, f.T)
		}
		if embedKeys, err := p.putEmbedFrames(ctx, prefix, pc.Frames); err != nil {
			return nil, err
		} else {
			c.EmbedKeys = embedKeys
		}
		c.ThumbKey = c.FrameKeys[len(c.FrameKeys)/2]
		chunks = append(chunks, c)
	}
	if err := p.Sender.SendChunks(ctx, chunks); err != nil {
		return nil, fmt.Errorf("send chunks of %s window %d: %w", v.ID, w.Index, err)
	}
	p.Log.Debug("window cut", "video", v.ID, "window", w.Index, "chunks", len(chunks))
	if end, ok := picturesEnd(w, chunks); ok {
		if err := p.endsAt(ctx, v.ID, end); err != nil {
			return nil, err
		}
	}
	return chunks, nil
}

// picturesEnd tells where the video's pictures end when window w shows
// it: w cut nothing of its own (they end before w: its start is the end, to
// within endSlack, since the window before cut up to it), or its last chunk
// ends more than endSlack before w does.
func picturesEnd(w scenedex.Window, chunks []scenedex.Chunk) (float64, bool) {
	if len(chunks) == 0 {
		return w.Start, true
	}
	last := chunks[len(chunks)-1].End
	return last, last < w.End-endSlack
}

// endSlack is how much sooner than planned a window may end without that
// being the end of the pictures (the last frame's duration, rounding).
const endSlack = 1.0

// endsAt records that the pictures of a video end at end, when that is
// sooner than its recorded duration: the windows run in parallel (a Step
// Functions Map in the cloud), so each one that finds the end lowers the
// duration and the lowest stays.
func (p *Pipeline) endsAt(ctx context.Context, videoID string, end float64) error {
	_, err := p.Catalog.Update(ctx, videoID, func(v *scenedex.Video) error {
		if end < v.Duration {
			p.Log.Warn("the video's pictures end before its planned duration", "video", v.ID, "planned", v.Duration, "ends", end)
			v.Duration = end
		}
		return nil
	})
	if p.Gone(ctx, videoID, err) {
		return ErrGone
	}
	return err
}

// putEmbedFrames stores the embedding form of frames under prefix, or
// nothing unless every frame has one.
func (p *Pipeline) putEmbedFrames(ctx context.Context, prefix string, frames []ffmpeg.Frame) ([]string, error) {
	for _, f := range frames {
		if f.EmbedPath == "" {
			return nil, nil
		}
	}
	keys := make([]string, len(frames))
	for i, f := range frames {
		keys[i] = fmt.Sprintf("%sembed-%02d.jpg", prefix, i)
		if err := p.putFile(ctx, keys[i], f.EmbedPath, "image/jpeg"); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func (p *Pipeline) putFile(ctx context.Context, key, file, contentType string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return p.Blobs.Put(ctx, key, f, contentType)
}

// ChunksPlanned records how many chunks the windows produced, once all are
// cut. It returns the record so the caller can see whether the embeddings are
// already all done.
func (p *Pipeline) ChunksPlanned(ctx context.Context, videoID string, total int) (scenedex.Video, error) {
	if total == 0 {
		if _, err := p.video(ctx, videoID); p.Gone(ctx, videoID, err) {
			return scenedex.Video{}, ErrGone // deleted before any window was cut: each was skipped
		}
		return scenedex.Video{}, scenedex.Errorf(scenedex.CodeNotVideo, "no chunk could be cut from the video")
	}
	v, err := p.Catalog.Update(ctx, videoID, func(v *scenedex.Video) error {
		v.ChunksTotal, v.Stage = total, "embedding"
		return nil
	})
	if p.Gone(ctx, videoID, err) {
		return scenedex.Video{}, ErrGone // deleted while it was cut: its chunk files went with it
	}
	return v, err
}

// Complete reports whether every planned chunk of v is embedded.
func Complete(v scenedex.Video) bool { return v.ChunksTotal > 0 && v.ChunksDone >= v.ChunksTotal }

// EmbedChunk embeds a chunk's frames, pools them into one vector, reads the
// words on screen (when OCR is on), indexes both under <video>:<chunk> and
// marks the chunk done. Doing it twice is harmless: the doc is replaced.
func (p *Pipeline) EmbedChunk(ctx context.Context, c scenedex.Chunk) (scenedex.Video, error) {
	v, err := p.video(ctx, c.VideoID)
	if p.Gone(ctx, c.VideoID, err) {
		return scenedex.Video{}, ErrGone // deleted meanwhile: nothing to do, and its frames go
	}
	if err != nil {
		return v, err
	}
	// A video FAILED by another chunk still gets this one indexed and
	// counted: no finished work is thrown away, and a redrive of the dead
	// chunk alone can then complete it.
	if len(c.FrameKeys) == 0 {
		return v, scenedex.Errorf(scenedex.CodeInvalid, "chunk %s has no frames", c.ID())
	}
	// The model is sent the frames scaled for it where the chunk has them;
	// OCR reads the large ones.
	images, err := p.readFrames(ctx, embedKeys(c))
	if err != nil {
		return v, err
	}
	embedder := p.liveEmbedder(ctx)
	vecs, err := embedder.EmbedImages(ctx, images)
	if err != nil {
		return v, fmt.Errorf("embed %s: %w", c.ID(), err)
	}
	doc := scenedex.Doc{Chunk: c, Vector: vector.Pool(vecs)}
	doc.Run = "" // a property of the message, not of the chunk
	if m, ok := embedder.(interface{ Model() string }); ok {
		doc.Model = m.Model()
	}
	if p.Reader != nil {
		large := images
		if len(c.EmbedKeys) == len(c.FrameKeys) {
			if large, err = p.readFrames(ctx, c.FrameKeys); err != nil {
				return v, err
			}
		}
		texts, err := p.Reader.ReadText(ctx, large)
		if err != nil {
			return v, fmt.Errorf("read words of %s: %w", c.ID(), err)
		}
		times := make([]float64, len(texts))
		for i := range times {
			times[i] = c.FrameTime(i)
		}
		doc.Lines = words.Merge(texts, times)
	}
	if err := p.Index.Upsert(ctx, []scenedex.Doc{doc}); err != nil {
		return v, fmt.Errorf("index %s: %w", c.ID(), err)
	}
	// The switch is read after the live doc is written: a switch that
	// began before that read gets this chunk's next vector here, one that
	// began after finds the doc when it queues every doc.
	if err := p.alsoNext(ctx, doc, images); err != nil {
		return v, err
	}
	v, err = p.Catalog.ChunkDone(ctx, c.VideoID, c.Index)
	if p.Gone(ctx, c.VideoID, err) {
		return scenedex.Video{}, ErrGone // deleted meanwhile: the document just written went with it
	}
	return v, err
}

// embedKeys are the frames of c the embedding model is sent: their form
// scaled for it, where c has one.
func embedKeys(c scenedex.Chunk) []string {
	if len(c.EmbedKeys) == len(c.FrameKeys) {
		return c.EmbedKeys
	}
	return c.FrameKeys
}

// readFrames reads the frames stored under keys (each at most 4 MiB).
func (p *Pipeline) readFrames(ctx context.Context, keys []string) ([][]byte, error) {
	images := make([][]byte, 0, len(keys))
	for _, key := range keys {
		rc, err := p.Blobs.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, io.LimitReader(rc, 4<<20))
		rc.Close()
		if err != nil {
			return nil, scenedex.Wrap(scenedex.CodeUnavailable, err, "read %s", key)
		}
		images = append(images, buf.Bytes())
	}
	return images, nil
}

// Finalize marks a video READY once every chunk is indexed. Calling it again,
// or before the last chunk, changes nothing.
func (p *Pipeline) Finalize(ctx context.Context, videoID string) (scenedex.Video, error) {
	v, err := p.Catalog.Update(ctx, videoID, func(v *scenedex.Video) error {
		if v.Status == scenedex.StatusProcessing && Complete(*v) {
			v.Status, v.Stage = scenedex.StatusReady, ""
			p.Log.Info("video ready", "video", v.ID, "chunks", v.ChunksTotal, "duration", v.Duration)
		}
		return nil
	})
	if p.Gone(ctx, videoID, err) {
		return scenedex.Video{}, ErrGone
	}
	if err == nil && v.Status == scenedex.StatusReady {
		if rerr := p.retire(ctx, v); rerr != nil {
			return v, fmt.Errorf("retire older versions of %s: %w", v.Key, rerr)
		}
	}
	return v, err
}

// MarkFailed records why a video could not be processed. A READY video stays
// READY.
func (p *Pipeline) MarkFailed(ctx context.Context, videoID, reason string) (scenedex.Video, error) {
	return p.MarkRunFailed(ctx, videoID, "", reason)
}

// MarkRunFailed is MarkFailed for a failure of one run's work (a chunk of
// run): a video reprocessed meanwhile has another run, which the failure
// does not concern, so it is left as it is. The run is compared inside the
// catalog's update, so a reprocess between the caller's read and this write
// cannot be failed by its predecessor's leftovers. run "" fails any run.
func (p *Pipeline) MarkRunFailed(ctx context.Context, videoID, run, reason string) (scenedex.Video, error) {
	return p.Catalog.Update(ctx, videoID, func(v *scenedex.Video) error {
		if v.Status == scenedex.StatusReady || (run != "" && v.Run != run) {
			return nil
		}
		v.Status, v.Reason, v.Stage = scenedex.StatusFailed, reason, ""
		p.Log.Warn("video failed", "video", v.ID, "reason", reason)
		return nil
	})
}
