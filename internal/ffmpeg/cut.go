package ffmpeg

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// CutSpec says which window of which input to cut, and how.
type CutSpec struct {
	Input          string  // file path or http(s) URL
	Start          float64 // window start, seconds
	Duration       float64 // window length, seconds
	ChunkSeconds   float64 // target chunk length
	MaxChunks      int     // at most this many chunks: the last absorbs any tail
	CopyVideo      bool    // stream copy (keyframe-aligned cuts); else re-encode to H.264
	HasAudio       bool
	CopyAudio      bool // else re-encode audio to AAC
	FramesPerChunk int  // sampled frames kept per chunk (at least 1)
	FrameWidth     int  // largest width of sampled frames and thumbnails (never upscaled)
	// EmbedEdge, when positive, also writes each sampled frame scaled so
	// its shortest edge is at most EmbedEdge (never upscaled): the form the
	// embedding model is sent, decoded once with the large one.
	EmbedEdge int
	Dir       string
}

// MaxClipSide is the longest side of a re-encoded chunk (never upscaled): a
// clip is what a hit plays, and the encoder's memory grows with the frame
// size it encodes. Stream-copied chunks keep their size.
const MaxClipSide = 1920

// clipScale scales a re-encoded chunk to fit MaxClipSide on its long side,
// the other side even (H.264 4:2:0 needs even sides).
var clipScale = fmt.Sprintf("scale=w='if(gte(iw,ih),trunc(min(%d,iw)/2)*2,-2)':h='if(gte(iw,ih),-2,trunc(min(%d,ih)/2)*2)'", MaxClipSide, MaxClipSide)

// Piece is one cut chunk on local disk.
type Piece struct {
	Index  int // 0-based within the window
	Start  float64
	End    float64
	Clip   string  // path of the MP4
	Frames []Frame // sampled frames, in time order; the middle one is the thumbnail
}

// Frame is a sampled frame.
type Frame struct {
	T    float64 // seconds in the source video
	Path string
	// EmbedPath is the frame scaled for the embedding model ("" unless
	// CutSpec.EmbedEdge is set).
	EmbedPath string
}

// Cut runs one ffmpeg pass over the window: output 1 is the chunks (segment
// muxer, stream copy where possible), output 2 the frames (keyframes only when
// copying: no full decode). True chunk start/end come from the segment list,
// anchored at the keyframe the copy starts from.
func (t Tool) Cut(ctx context.Context, s CutSpec) ([]Piece, error) {
	if s.ChunkSeconds <= 0 || s.Duration <= 0 {
		return nil, fmt.Errorf("cut: chunk length and window length must be positive")
	}
	if s.FramesPerChunk < 1 {
		s.FramesPerChunk = 1
	}
	if s.FrameWidth <= 0 {
		s.FrameWidth = 320
	}
	if s.MaxChunks <= 0 {
		s.MaxChunks = int(math.Ceil(s.Duration / s.ChunkSeconds))
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	input, done, err := t.open(s.Input)
	if err != nil {
		return nil, err
	}
	defer done()
	s.Input = input
	// Where a copied chunk really starts: the keyframe at or before the seek point.
	origin := s.Start
	if s.CopyVideo && s.Start > 0 {
		k, err := t.keyframe(ctx, s.Input, s.Start)
		if err != nil {
			return nil, fmt.Errorf("cut: find keyframe: %w", err)
		}
		origin = k
	}
	list := filepath.Join(s.Dir, "segments.csv")
	args := append([]string{"-v", "error", "-nostdin", "-y"}, inputArgs(s.Input)...)
	args = append(args, "-ss", fmt.Sprintf("%.3f", s.Start), "-i", s.Input, "-t", fmt.Sprintf("%.3f", s.Duration), "-map", "0:v:0")
	if s.HasAudio {
		args = append(args, "-map", "0:a:0")
	}
	if s.CopyVideo {
		args = append(args, "-c:v", "copy")
	} else {
		args = append(args, "-vf", clipScale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
			"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%g)", s.ChunkSeconds))
	}
	if s.HasAudio {
		if s.CopyAudio {
			args = append(args, "-c:a", "copy")
		} else {
			args = append(args, "-c:a", "aac", "-b:a", "128k")
		}
	}
	args = append(args, "-f", "segment", "-segment_times", segmentTimes(s.ChunkSeconds, s.MaxChunks),
		"-reset_timestamps", "1", "-segment_format", "mp4", "-segment_format_options", "movflags=+faststart",
		"-segment_list", list, "-segment_list_type", "csv", filepath.Join(s.Dir, "chunk%04d.mp4"))
	if _, err := t.run(ctx, t.FFmpeg, args...); err != nil {
		return nil, fmt.Errorf("cut window at %.1fs: %w", s.Start, err)
	}
	pieces, err := readSegments(list, s.Dir, origin)
	if err != nil {
		return nil, err
	}
	pieces = fromWindow(pieces, s.Start)
	if err := t.sampleFrames(ctx, pieces, s); err != nil {
		return nil, err
	}
	return pieces, nil
}

// sampleFrames decodes frames from the chunk files just cut (local disk, one
// ffmpeg process for the whole window). For stream-copied chunks only keyframes
// are decoded, which is cheap; a re-encoded chunk is sampled at an even rate.
// Frame file names carry their time in ms from the chunk start.
func (t Tool) sampleFrames(ctx context.Context, pieces []Piece, s CutSpec) error {
	if len(pieces) == 0 {
		return nil
	}
	args := []string{"-v", "error", "-nostdin", "-y"}
	for _, p := range pieces {
		if s.CopyVideo {
			args = append(args, "-skip_frame", "nokey")
		}
		args = append(args, "-i", p.Clip)
	}
	rate := ""
	if !s.CopyVideo {
		rate = fmt.Sprintf("fps=%g,", float64(s.FramesPerChunk)/s.ChunkSeconds)
	}
	for i, p := range pieces {
		args = append(args, frameOutputs(fmt.Sprintf("%d:v:0", i), rate, strings.TrimSuffix(p.Clip, ".mp4"), "%d", s)...)
	}
	if _, err := t.run(ctx, t.FFmpeg, args...); err != nil {
		return fmt.Errorf("sample frames: %w", err)
	}
	for i := range pieces {
		p := &pieces[i]
		prefix := strings.TrimSuffix(p.Clip, ".mp4") + "-f"
		frames, err := readFrames(prefix, p.Start)
		if err != nil {
			return err
		}
		if len(frames) == 0 {
			// A sliver of a chunk (a tail shorter than one sampling
			// interval, as an animated GIF's last frame can leave) or one
			// without a keyframe: its first decodable frame stands for it.
			args := append([]string{"-v", "error", "-nostdin", "-y", "-i", p.Clip},
				frameOutputs("0:v:0", "", strings.TrimSuffix(p.Clip, ".mp4"), "0", s, "-frames:v", "1")...)
			if _, err := t.run(ctx, t.FFmpeg, args...); err != nil {
				return fmt.Errorf("sample frames: %w", err)
			}
			if frames, err = readFrames(prefix, p.Start); err != nil {
				return err
			}
		}
		p.Frames = pick(frames, s.FramesPerChunk)
		if len(p.Frames) == 0 {
			return scenedex.Errorf(scenedex.CodeNotVideo, "no frame could be decoded from chunk at %.1fs", p.Start)
		}
	}
	return nil
}

// frameOutputs are the ffmpeg outputs of one piece's frames from stream
// in (rate: an fps filter to put first, or ""): base-f<name>.jpg at most
// FrameWidth wide and, with EmbedEdge, base-e<name>.jpg with its shortest
// edge at most EmbedEdge — one decode feeds both. -vsync (not its newer name
// -fps_mode) so the layer's static builds, which predate ffmpeg 5.1, take the
// same arguments.
func frameOutputs(in, rate, base, name string, s CutSpec, extra ...string) []string {
	out := func(vf, file, quality string) []string {
		args := append([]string{"-map", in}, extra...)
		args = append(args, "-vf", rate+vf, "-vsync", "passthrough")
		if strings.Contains(name, "%d") { // named by each frame's time in ms
			args = append(args, "-enc_time_base", "1:1000", "-frame_pts", "1")
		}
		return append(args, "-q:v", quality, file)
	}
	args := out(fmt.Sprintf("scale=w='min(%d,iw)':h=-2", s.FrameWidth), base+"-f"+name+".jpg", "3")
	if s.EmbedEdge > 0 {
		e := s.EmbedEdge
		args = append(args, out(fmt.Sprintf("scale=w='if(lt(iw,ih),min(%d,iw),-2)':h='if(lt(iw,ih),-2,min(%d,ih))':flags=bicubic", e, e),
			base+"-e"+name+".jpg", "2")...)
	}
	return args
}

// segmentTimes lists the cut points, relative to the first copied packet,
// leaving out the last so a short tail joins the final chunk.
func segmentTimes(chunk float64, maxChunks int) string {
	var b strings.Builder
	for i := 1; i < maxChunks; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(chunk*float64(i), 'f', 3, 64))
	}
	if b.Len() == 0 {
		// One chunk: a cut point past the window end.
		return strconv.FormatFloat(chunk*1e6, 'f', 0, 64)
	}
	return b.String()
}

func readSegments(list, dir string, origin float64) ([]Piece, error) {
	f, err := os.Open(list)
	if err != nil {
		return nil, fmt.Errorf("cut: segment list: %w", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("cut: segment list: %w", err)
	}
	var pieces []Piece
	for _, r := range rows {
		if len(r) < 3 {
			continue
		}
		start, err1 := strconv.ParseFloat(r[1], 64)
		end, err2 := strconv.ParseFloat(r[2], 64)
		clip := filepath.Join(dir, filepath.Base(r[0]))
		if err1 != nil || err2 != nil || end <= start || !fileExists(clip) {
			continue
		}
		pieces = append(pieces, Piece{Index: len(pieces), Start: round3(origin + start), End: round3(origin + end), Clip: clip})
	}
	return pieces, nil
}

// fromWindow drops the pieces that end at or before the window's start. A
// window past the end of the pictures (headers that claim more than the file
// holds) gets nothing of its own: its seek lands on the last keyframe before
// it and a stream copy cuts that last GOP again; re-encoded, it cuts an empty
// chunk (which readSegments already drops). None is a chunk of this window.
func fromWindow(pieces []Piece, start float64) []Piece {
	var kept []Piece
	for _, p := range pieces {
		if p.End > start+0.001 {
			p.Index = len(kept)
			kept = append(kept, p)
		}
	}
	return kept
}

func readFrames(prefix string, start float64) ([]Frame, error) {
	paths, err := filepath.Glob(prefix + "*.jpg")
	if err != nil {
		return nil, err
	}
	frames := make([]Frame, 0, len(paths))
	for _, p := range paths {
		ms, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(p, prefix), ".jpg"), 10, 64)
		if err != nil {
			continue
		}
		f := Frame{T: round3(start + float64(ms)/1000), Path: p}
		if e := strings.TrimSuffix(prefix, "-f") + "-e" + strings.TrimPrefix(p, prefix); fileExists(e) {
			f.EmbedPath = e
		}
		frames = append(frames, f)
	}
	sort.Slice(frames, func(i, j int) bool { return frames[i].T < frames[j].T })
	return frames, nil
}

// pick keeps n frames spread evenly over fs.
func pick(fs []Frame, n int) []Frame {
	if len(fs) <= n {
		return fs
	}
	out := make([]Frame, n)
	for i := range n {
		out[i] = fs[(2*i+1)*len(fs)/(2*n)]
	}
	return out
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
