package ffmpeg

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Probe is what scenedex needs to know about a video file.
type Probe struct {
	Format string `json:"format"`
	// Duration is how long the video's pictures last: the headers' claim,
	// unless the packets end sooner.
	Duration float64 `json:"duration"`
	// HeaderDuration is what the headers claimed, when the packets ended
	// sooner (0 otherwise).
	HeaderDuration float64 `json:"header_duration,omitempty"`
	Video          Stream  `json:"video"`
	Audio          *Stream `json:"audio,omitempty"`
}

// Stream describes one stream.
type Stream struct {
	Codec  string  `json:"codec"`
	Width  int     `json:"width,omitempty"`
	Height int     `json:"height,omitempty"`
	FPS    float64 `json:"fps,omitempty"`
}

type ffprobeJSON struct {
	Streams []struct {
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		Duration     string            `json:"duration"`
		Disposition  map[string]int    `json:"disposition"`
		Tags         map[string]string `json:"tags"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// Probe runs ffprobe on input. An input that is not a video with a known
// duration is an error with CodeNotVideo and a reason a user can act on.
func (t Tool) Probe(ctx context.Context, input string) (Probe, error) {
	input, done, err := t.open(input)
	if err != nil {
		return Probe{}, err
	}
	defer done()
	args := append(inputArgs(input), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", input)
	out, err := t.run(ctx, t.FFprobe, args...)
	if err != nil {
		return Probe{}, err
	}
	var raw ffprobeJSON
	if err := json.Unmarshal(out, &raw); err != nil {
		return Probe{}, fmt.Errorf("ffprobe output: %w", err)
	}
	p := Probe{Format: raw.Format.FormatName}
	var hasVideo bool
	var streamDur float64
	for _, s := range raw.Streams {
		switch s.CodecType {
		case "video":
			if hasVideo || s.Disposition["attached_pic"] == 1 {
				continue // cover art is not a video stream
			}
			hasVideo = true
			p.Video = Stream{Codec: s.CodecName, Width: s.Width, Height: s.Height, FPS: rate(s.AvgFrameRate)}
			streamDur, _ = strconv.ParseFloat(s.Duration, 64)
		case "audio":
			if p.Audio == nil {
				p.Audio = &Stream{Codec: s.CodecName}
			}
		}
	}
	if !hasVideo {
		if p.Audio != nil {
			return p, scenedex.Errorf(scenedex.CodeNotVideo, "no video stream: the file holds audio only (%s)", p.Audio.Codec)
		}
		return p, scenedex.Errorf(scenedex.CodeNotVideo, "no video stream in %s input", orUnknown(p.Format))
	}
	if isImageFormat(p.Format) {
		return p, scenedex.Errorf(scenedex.CodeNotVideo, "a still image (%s), not a video", p.Format)
	}
	p.Duration, _ = strconv.ParseFloat(raw.Format.Duration, 64)
	if p.Duration <= 0 {
		p.Duration = streamDur
	}
	if p.Duration <= 0 {
		return p, scenedex.Errorf(scenedex.CodeNotVideo, "the video has no known duration (truncated or a live stream?)")
	}
	// The headers say how long the video is; the packets say how long it
	// really is. A header claiming 30 hours over 12 s of pictures would
	// plan 1,800 windows of nothing.
	end, err := t.contentEnd(ctx, input, p.Duration)
	if ctx.Err() != nil {
		return p, err
	}
	if err == nil && end > 0 && end < p.Duration-endSlack {
		p.HeaderDuration, p.Duration = p.Duration, end
	}
	return p, nil
}

// endSlack is how far the pictures may end before the headers' duration
// without the duration being corrected (audio often outlasts the last
// frame by a little).
const endSlack = 1.0

// tailPackets bounds the packets read to find where the pictures end: from
// the keyframe before the last seconds, a GOP and the seconds after it.
const tailPackets = 20000

// contentEnd finds where the video stream's packets really end: it seeks to
// the last seconds the headers claim — a demuxer that has nothing there lands
// on the last keyframe it has — and reads the packets from there to the end of
// the file. 0 when that cannot tell (no timestamps, or more packets than
// tailPackets: the pictures go on past the seek point). An error leaves the
// headers' duration standing (the windows still stop where the pictures
// do).
func (t Tool) contentEnd(ctx context.Context, input string, claimed float64) (float64, error) {
	from := max(claimed-2, 0)
	args := append(inputArgs(input), "-v", "error", "-read_intervals", fmt.Sprintf("%.3f%%+#%d", from, tailPackets),
		"-select_streams", "v:0", "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", input)
	out, err := t.run(ctx, t.FFprobe, args...)
	if err != nil {
		return 0, fmt.Errorf("read the last packets: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) >= tailPackets {
		return 0, nil
	}
	end := 0.0
	for _, line := range lines {
		pts, dur, _ := strings.Cut(strings.TrimSuffix(strings.TrimSpace(line), ","), ",")
		at, err := strconv.ParseFloat(pts, 64)
		if err != nil {
			continue
		}
		d, _ := strconv.ParseFloat(dur, 64)
		end = max(end, at+d)
	}
	return end, nil
}

func isImageFormat(f string) bool {
	return strings.HasSuffix(f, "_pipe") || f == "image2"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func rate(r string) float64 {
	num, den, ok := strings.Cut(r, "/")
	if !ok {
		f, _ := strconv.ParseFloat(r, 64)
		return f
	}
	n, _ := strconv.ParseFloat(num, 64)
	d, _ := strconv.ParseFloat(den, 64)
	if d == 0 {
		return 0
	}
	return n / d
}

// KeyframeAtOrBefore returns the time of the first video packet ffmpeg reads
// after seeking input to t: the keyframe a stream-copy cut from t starts at.
// It reads one packet, so it costs one ranged read of a remote input.
func (t Tool) KeyframeAtOrBefore(ctx context.Context, input string, at float64) (float64, error) {
	if at <= 0 {
		return 0, nil
	}
	input, done, err := t.open(input)
	if err != nil {
		return 0, err
	}
	defer done()
	return t.keyframe(ctx, input, at)
}

func (t Tool) keyframe(ctx context.Context, input string, at float64) (float64, error) {
	args := append(inputArgs(input), "-v", "error", "-read_intervals", fmt.Sprintf("%.3f%%+#1", at),
		"-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", input)
	out, err := t.run(ctx, t.FFprobe, args...)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	k, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(line, ",")), 64)
	if err != nil {
		return at, nil // no pts (rare containers): assume an exact seek
	}
	return k, nil
}
