package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func upload(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	collection := fs.String("collection", "", "collection (default: default)")
	metadata := fs.String("metadata", "", `metadata as a JSON object of strings, e.g. '{"brand":"acme"}'`)
	wait := fs.Bool("wait", false, "follow processing until READY or FAILED")
	asJSON := fs.Bool("json", false, "print a JSON object")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one FILE"}
	}
	path := pos[0]
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	var meta map[string]string
	if *metadata != "" {
		if err := json.Unmarshal([]byte(*metadata), &meta); err != nil {
			return usageError{"--metadata must be a JSON object of strings: " + err.Error()}
		}
	}
	c := apiClient()
	quiet := *asJSON
	// A bar only where someone watches it redraw: piped or logged, plain
	// lines.
	live := !quiet && term.IsTerminal(int(os.Stderr.Fd()))
	bar := progressbar.DefaultBytesSilent(st.Size(), "uploading")
	if live {
		bar = progressbar.NewOptions64(st.Size(), progressbar.OptionSetDescription("uploading "+filepath.Base(path)),
			progressbar.OptionShowBytes(true), progressbar.OptionSetWriter(os.Stderr), progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond))
	} else if !quiet && !st.IsDir() {
		fmt.Fprintf(os.Stderr, "uploading %s (%d bytes)\n", filepath.Base(path), st.Size())
	}
	v, err := c.UploadFile(ctx, path, client.UploadOptions{Collection: *collection, Metadata: meta,
		Progress: func(r io.Reader) io.Reader {
			pr := progressbar.NewReader(r, bar)
			return &pr
		}})
	bar.Finish()
	if err != nil {
		return err
	}
	id := v.ID
	if !quiet {
		fmt.Fprintf(os.Stderr, "uploaded %s as video %s\n", filepath.Base(path), id)
	}
	if *wait {
		v, err = follow(ctx, c, id, quiet)
		if err != nil {
			return err
		}
	}
	if *asJSON {
		err = printJSON(v)
	} else {
		fmt.Println(id)
	}
	if err != nil {
		return err
	}
	if v.Status == scenedex.StatusFailed {
		return fmt.Errorf("video %s FAILED: %s", id, v.Reason)
	}
	return nil
}

// follow shows processing progress until the video is READY or FAILED: a
// bar on a terminal, else a line per change of stage; and then a line with
// the final state, true whatever the bar last drew.
func follow(ctx context.Context, c *client.Client, id string, quiet bool) (scenedex.Video, error) {
	bar := stepsBar(quiet, "processing")
	last := ""
	v, err := c.Wait(ctx, id, 300*time.Millisecond, func(v scenedex.Video) {
		switch {
		case quiet:
		case bar != nil:
			bar.Describe(strings.ToLower(string(v.Status)) + " " + v.Stage)
			setSteps(bar, v.ChunksDone, v.ChunksTotal)
		case !v.Status.Final():
			if line := progressLine(v); line != last {
				fmt.Fprintln(os.Stderr, line)
				last = line
			}
		}
	})
	if bar != nil {
		bar.Finish()
	}
	if err == nil && !quiet {
		fmt.Fprintln(os.Stderr, progressLine(v))
	}
	return v, err
}

// stepsBar is a bar of steps on a terminal (its length set once known), or
// nil when quiet or stderr is not a terminal.
func stepsBar(quiet bool, desc string) *progressbar.ProgressBar {
	if quiet || !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(desc),
		progressbar.OptionClearOnFinish())
}

// setSteps shows done of total on bar (total 0: not known yet).
func setSteps(bar *progressbar.ProgressBar, done, total int) {
	if total > 0 && bar.GetMax() != total {
		bar.ChangeMax(total)
	}
	bar.Set(done)
}

// progressLine is a video's state in one line: "PROCESSING embedding 3/12
// chunks", "READY 12/12 chunks, 120.0 s", "FAILED: why".
func progressLine(v scenedex.Video) string {
	switch v.Status {
	case scenedex.StatusFailed:
		return "FAILED: " + v.Reason
	case scenedex.StatusReady:
		return fmt.Sprintf("READY %d/%d chunks, %.1f s of video", v.ChunksDone, v.ChunksTotal, v.Duration)
	}
	line := string(v.Status)
	if v.Stage != "" {
		line += " " + v.Stage
	}
	if v.ChunksTotal > 0 {
		line += fmt.Sprintf(" %d/%d chunks", v.ChunksDone, v.ChunksTotal)
	}
	return line
}

func status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one video ID"}
	}
	v, err := apiClient().Video(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(v)
	}
	fmt.Printf("id:         %s\nfile:       %s\ncollection: %s\nstatus:     %s\n", v.ID, v.Filename, v.Collection, v.Status)
	if v.Stage != "" {
		fmt.Printf("stage:      %s\n", v.Stage)
	}
	if v.Reason != "" {
		fmt.Printf("reason:     %s\n", v.Reason)
	}
	if v.Duration > 0 {
		fmt.Printf("duration:   %.1fs (%dx%d)\n", v.Duration, v.Width, v.Height)
	}
	fmt.Printf("chunks:     %d/%d\n", v.ChunksDone, v.ChunksTotal)
	return nil
}

func videos(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("videos", flag.ContinueOnError)
	collection := fs.String("collection", "", "only this collection")
	limit := fs.Int("limit", 0, "one page of at most this many (with --cursor for the next); 0 lists all")
	cursor := fs.String("cursor", "", "the next_cursor a page printed")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c := apiClient()
	var vs []scenedex.Video
	var next string
	var err error
	if *limit > 0 || *cursor != "" {
		var page scenedex.VideoPage
		page, err = c.VideosPage(ctx, scenedex.ListQuery{Collection: *collection, Limit: *limit, Cursor: *cursor})
		vs, next = page.Videos, page.Next
		if err == nil && *asJSON {
			return printJSON(page)
		}
	} else {
		vs, err = c.Videos(ctx, *collection)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(vs)
	}
	if next != "" {
		defer fmt.Printf("more: scenedex videos --limit %d --cursor %s\n", *limit, next)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCOLLECTION\tSTATUS\tCHUNKS\tDURATION\tFILE\tREASON")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%.1fs\t%s\t%s\n", v.ID, v.Collection, v.Status, v.ChunksDone, v.ChunksTotal, v.Duration, v.Filename, v.Reason)
	}
	return tw.Flush()
}

func deleteVideo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one video ID"}
	}
	if err := apiClient().Delete(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Println("deleted", pos[0])
	return nil
}

func search(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	image := fs.String("image", "", "search with an image file (JPEG or PNG)")
	like := fs.String("like", "", "search for scenes like VIDEO_ID@SECONDS")
	collection := fs.String("collection", "", "only this collection")
	k := fs.Int("k", 10, "number of hits")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	q := scenedex.Query{Collection: *collection, K: *k, Text: strings.Join(pos, " ")}
	if *image != "" {
		if q.Image, err = os.ReadFile(*image); err != nil {
			return err
		}
	}
	if *like != "" {
		id, t, ok := strings.Cut(*like, "@")
		sec, err := strconv.ParseFloat(t, 64)
		if !ok || err != nil || id == "" {
			return usageError{"--like takes VIDEO_ID@SECONDS, e.g. 3f2a...@12.5"}
		}
		q.Like = &scenedex.LikeRef{VideoID: id, T: sec}
	}
	hits, note, err := apiClient().SearchWithNote(ctx, q)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(os.Stderr, "note:", note)
	}
	if *asJSON {
		return printJSON(hits)
	}
	if len(hits) == 0 {
		fmt.Println("no matching scenes")
		return nil
	}
	printHits(os.Stdout, hits)
	return nil
}

// printHits lists hits, each followed by its matched words on screen (the
// matched words in [brackets], with the second they appear).
func printHits(w io.Writer, hits []scenedex.Hit) {
	for i, h := range hits {
		fmt.Fprintf(w, "%2d. %.3f  %s  %s  %.1f-%.1fs", i+1, h.Score, h.VideoID, h.Filename, h.Start, h.End)
		if len(h.Matched) > 0 {
			fmt.Fprintf(w, "  (%s)", strings.Join(h.Matched, "+"))
		}
		fmt.Fprintf(w, "\n    %s\n", h.ThumbURL)
		for _, l := range h.Text {
			fmt.Fprintf(w, "    @%.1fs  %s\n", l.T, bracket(l))
		}
	}
}

// bracket writes a matched line with its marks in [brackets].
func bracket(l scenedex.MatchedLine) string {
	var b strings.Builder
	at := 0
	for _, m := range l.Marks {
		if m[0] < at || m[1] > len(l.Text) {
			continue
		}
		b.WriteString(l.Text[at:m[0]] + "[" + l.Text[m[0]:m[1]] + "]")
		at = m[1]
	}
	b.WriteString(l.Text[at:])
	return b.String()
}

func reprocess(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reprocess", flag.ContinueOnError)
	wait := fs.Bool("wait", false, "follow the new run until READY or FAILED (exit 1 if FAILED)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one video ID"}
	}
	c := apiClient()
	v, err := c.Reprocess(ctx, pos[0])
	if err != nil {
		return err
	}
	if !*wait {
		fmt.Printf("%s: reprocessing\n", v.ID)
		return nil
	}
	if v, err = c.Wait(ctx, v.ID, time.Second, nil); err != nil {
		return err
	}
	fmt.Printf("%s: %s %s\n", v.ID, v.Status, v.Reason)
	if v.Status == scenedex.StatusFailed {
		return fmt.Errorf("video %s FAILED again: %s", v.ID, v.Reason)
	}
	return nil
}

func reindex(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	collection := fs.String("collection", "", "only the READY videos of this collection")
	model := fs.String("model", "", "switch every video to this model (a pulled model's name, or a model folder)")
	noWait := fs.Bool("no-wait", false, "with --model: return once the switch is queued")
	showStatus := fs.Bool("status", false, "show the live model and the switch under way")
	cancel := fs.Bool("cancel", false, "cancel the model switch under way (the live vectors stay)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{"reindex takes at most one VIDEO_ID"}
	}
	c := apiClient()
	switch {
	case *cancel:
		if err := c.CancelSwitch(ctx); err != nil {
			return err
		}
		fmt.Println("model switch cancelled; search goes on with the live model")
		return nil
	case *showStatus:
		st, err := c.ModelStatus(ctx)
		if err != nil {
			return err
		}
		return printStatus(st, *asJSON)
	}
	req := pipeline.ReindexRequest{Collection: *collection, Model: *model}
	if len(pos) == 1 {
		req.VideoID = pos[0]
	}
	if fi, err := os.Stat(req.Model); err == nil && fi.IsDir() {
		// A folder here: the server (this machine's) loads it by its
		// absolute path.
		if req.Model, err = filepath.Abs(req.Model); err != nil {
			return err
		}
	}
	res, err := c.Reindex(ctx, req)
	if err != nil {
		return err
	}
	if req.Model == "" {
		if *asJSON {
			return printJSON(res)
		}
		fmt.Printf("queued %d chunks of %d videos for re-embedding from their stored frames", res.Chunks, res.Videos)
		if res.Missing > 0 {
			fmt.Printf(" (%d chunks had no indexed doc to start from)", res.Missing)
		}
		fmt.Println("; search answers from the current index until each chunk is replaced")
		return nil
	}
	st := pipeline.ModelStatus{Model: res.Model, Switch: res.Switch}
	if st.Switch != nil && !*noWait {
		st, err = followSwitch(ctx, c, st.Switch.To, *asJSON)
		if err != nil {
			return err
		}
	}
	return printStatus(st, *asJSON)
}

func printStatus(st pipeline.ModelStatus, asJSON bool) error {
	if asJSON {
		return printJSON(st)
	}
	fmt.Println(switchLine(st))
	return nil
}

// followSwitch shows a model switch's progress until it is complete: a bar
// on a terminal, else a line per tenth done.
func followSwitch(ctx context.Context, c *client.Client, model string, quiet bool) (pipeline.ModelStatus, error) {
	bar := stepsBar(quiet, "re-embedding with "+model)
	lastTenth := -1
	st, err := c.WaitSwitch(ctx, model, 500*time.Millisecond, func(st pipeline.ModelStatus) {
		sw := st.Switch
		switch {
		case quiet || sw == nil:
		case bar != nil:
			setSteps(bar, sw.Done, sw.Total)
		case sw.Total > 0 && sw.Done*10/sw.Total != lastTenth:
			lastTenth = sw.Done * 10 / sw.Total
			fmt.Fprintln(os.Stderr, switchLine(st))
		}
	})
	if bar != nil {
		bar.Finish()
	}
	return st, err
}

// switchLine is the model state in one line.
func switchLine(st pipeline.ModelStatus) string {
	live := st.Model
	if live == "" {
		live = "none recorded yet"
	}
	if sw := st.Switch; sw != nil {
		return fmt.Sprintf("live model %s; switching to %s: %d/%d chunks re-embedded (search answers with %s until all are)",
			live, sw.To, sw.Done, sw.Total, live)
	}
	return "live model " + live + "; no switch under way"
}

func deadLetters(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dead-letters", flag.ContinueOnError)
	redrive := fs.Bool("redrive", false, "put every dead-lettered message back on its queue")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c := apiClient()
	if *redrive {
		var out map[string]int
		if err := c.Raw(ctx, "POST", "/v1/dead-letters/redrive", struct{}{}, &out); err != nil {
			return err
		}
		fmt.Printf("redriven: %d\n", out["redriven"])
		return nil
	}
	var out scenedex.DeadLetters
	if err := c.Raw(ctx, "GET", "/v1/dead-letters", nil, &out); err != nil {
		return err
	}
	return printJSON(out)
}
