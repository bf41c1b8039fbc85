package webapp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/local"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// The web app in a real browser: Debian's Chromium, headless, driven through
// the DevTools protocol, against the real local server (real ffmpeg, OCR,
// SQLite, the local S3 endpoint). Nothing is mocked. Screenshots land in
// test-artifacts/browser/ at the repository root.

const chromium = "/usr/bin/chromium"

func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (make test installs it: apt-get install chromium)", chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// do runs steps with a deadline, failing the test with what was going on
// and what the page says.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("%s: %v (page says %q)", what, err, pageNote(ctx))
	}
}

// poll waits (up to d) for a JavaScript expression to be truthy and returns
// its value.
func poll[T any](t *testing.T, ctx context.Context, what string, d time.Duration, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		t.Fatalf("%s: %v (page says %q)", what, err, pageNote(ctx))
	}
	return v
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func pageNote(ctx context.Context) string {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[document.querySelector("#status").textContent, document.querySelector("#search-note").textContent,
		...[...document.querySelectorAll("#uploads li")].map(li => li.textContent)].join(" | ")`))
	return s
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := filepath.Join("..", "..", "test-artifacts", "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// downloaded waits for a download to land and returns its bytes.
func downloaded(t *testing.T, path string) []byte {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b
		}
	}
	t.Fatalf("no download at %s", path)
	return nil
}

func TestBrowser(t *testing.T) {
	dir := t.TempDir()
	app, err := local.Start(context.Background(), local.Config{
		Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"), OCR: true, Assets: assets.Dir(),
		// Files above 1 MiB go up in 5 MiB parts: the page's multipart path.
		Pipeline: pipeline.Config{ChunkSeconds: 4, WindowChunks: 3, MultipartAbove: 1 << 20, PartSize: 5 << 20},
		Runner:   local.Options{Poll: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })

	// Words on screen in the first chunk; other pictures after.
	promo := testvideo.Make(t, dir, "store promo.mp4", testvideo.Spec{Scenes: []int{1, 0, 5}, SceneSecs: 4, Size: "640x360", GOP: 25,
		Overlay: testvideo.Text("GRAND OPENING TODAY", "dejavu/DejaVuSans-Bold.ttf", 36, "white", "60", "140", 0, 4)})
	// Noise compresses badly: several 5 MiB parts.
	big := testvideo.Make(t, dir, "big noise.mp4", testvideo.Spec{Scenes: []int{3, 3}, SceneSecs: 1.5, Size: "640x360", ExtraOutput: []string{"-qp", "0"}})
	if st, _ := os.Stat(big); st.Size() < 11<<20 {
		t.Fatalf("big video only %d bytes: want 3 parts", st.Size())
	}
	notVideo := filepath.Join(dir, "notes.txt")
	os.WriteFile(notVideo, []byte("not a video"), 0o644)

	ctx := browser(t)
	do(t, ctx, "open the page", chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#dropzone")))

	// Upload two videos and a text file at once through the file picker,
	// into a collection, with metadata.
	do(t, ctx, "choose files", chromedp.SendKeys(chromedp.CSS("#up-collection"), "spring"),
		chromedp.SendKeys(chromedp.CSS("#up-metadata"), "brand=acme, campaign=launch"),
		chromedp.SetUploadFiles(chromedp.CSS("#files"), []string{promo, big, notVideo}))
	refused := poll[string](t, ctx, "refused file", 20*time.Second,
		`[...document.querySelectorAll("#uploads li.error")].map(li => li.textContent).join("|")`)
	if !strings.Contains(refused, "notes.txt is not a video") {
		t.Errorf("refused file says %q", refused)
	}
	// Both reach READY in the library, live.
	poll[int](t, ctx, "two videos READY", 3*time.Minute,
		`(() => { const n = document.querySelectorAll("#videos tbody .status-READY").length; return n >= 2 ? n : 0 })()`)
	vs, err := app.Pipeline.Catalog.List(context.Background(), scenedex.ListQuery{})
	if err != nil || len(vs.Videos) != 2 {
		t.Fatalf("catalog: %+v %v", vs, err)
	}
	for _, v := range vs.Videos {
		if v.Collection != "spring" || v.Metadata["brand"] != "acme" || v.Metadata["campaign"] != "launch" {
			t.Errorf("%s: collection %q, metadata %v", v.Filename, v.Collection, v.Metadata)
		}
		st, _ := os.Stat(filepath.Join(app.S3.ObjectsDir(), filepath.FromSlash(v.Key)))
		want, _ := os.Stat(map[string]string{"store promo.mp4": promo, "big noise.mp4": big}[v.Filename])
		if st == nil || want == nil || st.Size() != want.Size() || v.UploadID != "" {
			t.Errorf("%s stored as %v, want %v", v.Filename, st, want)
		}
	}
	// The library says which model the vectors come from (GET /v1/reindex).
	if line := poll[string](t, ctx, "model line", 10*time.Second,
		`(() => { const p = document.querySelector("#model-status"); return p.hidden ? "" : p.textContent })()`); line != "Model: scenedex-hsv-hog-v1" {
		t.Errorf("model line %q", line)
	}
	states := poll[string](t, ctx, "upload states", 8*time.Second,
		`(() => { const s = [...document.querySelectorAll("#uploads li:not(.error) .state")].map(e => e.textContent); return s.length === 2 && s.every(x => x.startsWith("ready")) ? s.join("|") : "" })()`)
	t.Logf("uploads: %s", states)
	screenshot(t, ctx, "1-library")

	// Words: the promo's first chunk, with the words marked.
	do(t, ctx, "search words", chromedp.Navigate(app.URL+"/#search"), chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), "grand opening"), chromedp.Click(chromedp.CSS(`#search-form button[type=submit]`)))
	marked := poll[string](t, ctx, "words hits", 20*time.Second,
		`(() => { const h = document.querySelector("#hits li.hit"); return h ? h.dataset.start + " " + [...h.querySelectorAll("mark")].map(m => m.textContent).join(",") : "" })()`)
	if !strings.HasPrefix(marked, "0 ") || !strings.Contains(marked, "GRAND") || !strings.Contains(marked, "OPENING") {
		t.Errorf("first words hit: %q", marked)
	}
	screenshot(t, ctx, "2-search-words")
	// The collection and metadata filters narrow it; a filter nothing has
	// answers "no matching scenes".
	for _, tc := range []struct{ collection, filters, want string }{
		{"spring", "brand=acme", "scenes for"},
		{"autumn", "", "no matching scenes"},
		{"", "brand=other", "no matching scenes"},
	} {
		eval[chromedp.Void](t, ctx, fmt.Sprintf(`document.querySelector("#s-collection").value = %s; document.querySelector("#s-filters").value = %s;
			document.querySelector("#search-note").textContent = ""; undefined`, jsString(tc.collection), jsString(tc.filters)))
		do(t, ctx, "filtered search", chromedp.Click(chromedp.CSS(`#search-form button[type=submit]`)))
		note := poll[string](t, ctx, "filtered search", 20*time.Second,
			`(() => { const n = document.querySelector("#search-note").textContent; return n && !n.startsWith("searching") ? n : "" })()`)
		if !strings.Contains(note, tc.want) {
			t.Errorf("collection %q filters %q: %q, want %q", tc.collection, tc.filters, note, tc.want)
		}
	}
	eval[chromedp.Void](t, ctx, `document.querySelector("#s-collection").value = ""; document.querySelector("#s-filters").value = ""; undefined`)

	// A picture: a frame of the promo's third scene finds that chunk first.
	still := filepath.Join(dir, "still.jpg")
	if err := os.WriteFile(still, testvideo.Frame(t, promo, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "choose image", chromedp.SetUploadFiles(chromedp.CSS("#q-image"), []string{still}))
	poll[string](t, ctx, "image chosen", 5*time.Second, `document.querySelector("#q-image-name").textContent`)
	eval[chromedp.Void](t, ctx, `document.querySelector("#hits").replaceChildren(), undefined`)
	do(t, ctx, "search image", chromedp.Click(chromedp.CSS(`#search-form button[type=submit]`)))
	first := poll[string](t, ctx, "image hits", 20*time.Second, `(document.querySelector("#hits li.hit") || {dataset: {}}).dataset.start || ""`)
	if first != "8" {
		t.Errorf("image search: first hit starts at %q, want 8", first)
	}
	// The hit's clip plays on focus (the keyboard's hover)...
	do(t, ctx, "focus hit", chromedp.Focus(chromedp.CSS(`#hits li.hit .media`)))
	poll[bool](t, ctx, "clip preview", 20*time.Second, `(() => { const v = document.querySelector("#hits li.hit .media video"); return !!v && v.readyState >= 2 })()`)
	screenshot(t, ctx, "3-search-image")
	// ...and under the mouse; moving away brings the thumbnail back.
	at := eval[[]float64](t, ctx, `(() => { const r = document.querySelectorAll("#hits li.hit .media")[1].getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2] })()`)
	do(t, ctx, "hover", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at[0], at[1]))
	poll[bool](t, ctx, "clip on hover", 20*time.Second, `(() => { const v = document.querySelectorAll("#hits li.hit .media")[1].querySelector("video"); return !!v && v.readyState >= 2 && !v.paused })()`)
	do(t, ctx, "mouse away", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 5, 5))
	poll[bool](t, ctx, "thumbnail back", 5*time.Second, `!!document.querySelectorAll("#hits li.hit .media")[1].querySelector("img")`)

	// Click: the player opens the source video at the hit's second.
	do(t, ctx, "open player", chromedp.Click(chromedp.CSS(`#hits li.hit .media`)))
	seeked := poll[float64](t, ctx, "player seeked", 20*time.Second,
		`(() => { const v = document.querySelector("#player video"); return document.querySelector("#player").open && v.dataset.seeked !== undefined ? Number(v.dataset.seeked) : 0 })()`)
	now := eval[float64](t, ctx, `document.querySelector("#player video").currentTime`)
	src := eval[string](t, ctx, `document.querySelector("#player video").currentSrc`)
	if math.Abs(seeked-8) > 0.05 || now < 8 || now > 12 || !strings.Contains(src, "promo.mp4") {
		t.Errorf("player: seeked to %v, now %v, src %s; want the source from 8 s", seeked, now, src)
	}
	screenshot(t, ctx, "4-player")
	do(t, ctx, "close player", chromedp.Click(chromedp.CSS("#player-close")))
	poll[bool](t, ctx, "player closed", 5*time.Second, `!document.querySelector("#player").open`)

	// Paste a picture (a hit's thumbnail) and search with it.
	eval[bool](t, ctx, `(async () => {
		const b = await (await fetch(document.querySelector("#hits li.hit .media img").src)).blob();
		const dt = new DataTransfer();
		dt.items.add(new File([b], "pasted.jpg", {type: "image/jpeg"}));
		document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
		return true })()`)
	poll[string](t, ctx, "pasted", 5*time.Second, `document.querySelector("#q-image-name").textContent === "pasted.jpg" ? "ok" : ""`)
	do(t, ctx, "search pasted", chromedp.Click(chromedp.CSS(`#search-form button[type=submit]`)))
	poll[string](t, ctx, "pasted hits", 20*time.Second, `(() => { const n = document.querySelector("#search-note").textContent; return n.includes("scenes for the picture pasted.jpg") ? n : "" })()`)

	// More like this.
	do(t, ctx, "more like this", chromedp.Click(chromedp.CSS(`#hits li.hit .like`)))
	likeNote := poll[string](t, ctx, "like hits", 20*time.Second,
		`(() => { const n = document.querySelector("#search-note").textContent; return n.startsWith("searching") ? "" : n })()`)
	if !strings.Contains(likeNote, "scenes for scenes like store promo.mp4") {
		t.Errorf("more like this says %q", likeNote)
	}

	// The concept board: words found, words absent; and its CSV export.
	do(t, ctx, "concept board", chromedp.Navigate(app.URL+"/#concepts"), chromedp.WaitVisible(chromedp.CSS("#c-list")),
		chromedp.SendKeys(chromedp.CSS("#c-list"), "grand opening\nzebra crossing"),
		chromedp.Click(chromedp.CSS(`#concepts-form button[type=submit]`)))
	counts := poll[string](t, ctx, "board", 30*time.Second,
		`(() => { const r = document.querySelectorAll("#board tbody tr"); return r.length === 2 ? [...r].map(x => x.querySelector(".count strong").textContent).join(",") : "" })()`)
	if counts != "1,0" {
		t.Errorf("concept counts %q, want 1,0", counts)
	}
	// Export: the browser downloads the board as concepts.csv and .json.
	downloads := t.TempDir()
	do(t, ctx, "export", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	}), chromedp.Click(chromedp.CSS("#c-csv")), chromedp.Click(chromedp.CSS("#c-json")))
	csv := string(downloaded(t, filepath.Join(downloads, "concepts.csv")))
	var board pipeline.ConceptsResponse
	if err := json.Unmarshal(downloaded(t, filepath.Join(downloads, "concepts.json")), &board); err != nil || len(board.Concepts) != 2 || board.Concepts[0].Best[0].Start != 0 {
		t.Errorf("JSON export: %+v %v", board, err)
	}
	if !strings.HasPrefix(csv, "concept,kind,collection,count,capped,threshold\r\ngrand opening,text,*,1,false,0.25\r\n") {
		t.Errorf("CSV export:\n%s", csv)
	}
	// An example image as a concept, beside the words.
	do(t, ctx, "image concept", chromedp.SetUploadFiles(chromedp.CSS("#c-images"), []string{still}))
	poll[string](t, ctx, "image chosen", 5*time.Second, `document.querySelector("#c-images-names").textContent`)
	do(t, ctx, "count again", chromedp.Click(chromedp.CSS(`#concepts-form button[type=submit]`)))
	img := poll[string](t, ctx, "image row", 30*time.Second,
		`(() => { const r = document.querySelectorAll("#board tbody tr"); return r.length === 3 ? r[2].querySelector("th").textContent + " " + r[2].querySelector(".count strong").textContent : "" })()`)
	if !strings.HasPrefix(img, "still.jpgimage ") || strings.HasSuffix(img, " 0") {
		t.Errorf("image concept row %q", img)
	}
	screenshot(t, ctx, "5-concepts")

	// Drop files on the library: a video (the promo's bytes, read back
	// through a presigned link) and a text file.
	var promoKey string
	for _, v := range vs.Videos {
		if v.Filename == "store promo.mp4" {
			promoKey = v.Key
		}
	}
	link, err := app.Pipeline.Blobs.PresignGet(context.Background(), promoKey, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "library", chromedp.Navigate(app.URL+"/#library"), chromedp.WaitVisible(chromedp.CSS(`#videos tbody tr`)))
	eval[bool](t, ctx, `(async () => {
		const b = await (await fetch(`+jsString(link)+`)).blob();
		const dt = new DataTransfer();
		dt.items.add(new File([b], "dropped promo.mp4", {type: "video/mp4"}));
		dt.items.add(new File(["hello"], "readme.txt", {type: "text/plain"}));
		document.querySelector("#dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		return true })()`)
	poll[int](t, ctx, "dropped video READY", 2*time.Minute, `(() => { const n = document.querySelectorAll("#videos tbody .status-READY").length; return n === 3 ? n : 0 })()`)
	if note := poll[string](t, ctx, "dropped text refused", 5*time.Second, `[...document.querySelectorAll("#uploads li.error")].map(li => li.textContent).join("|")`); !strings.Contains(note, "readme.txt is not a video") {
		t.Errorf("dropped text file: %q", note)
	}

	// Delete from the library: two clicks (the second confirms).
	do(t, ctx, "delete", chromedp.Navigate(app.URL+"/#library"), chromedp.WaitVisible(chromedp.CSS(`#videos tbody tr`)),
		chromedp.Click(chromedp.CSS(`#videos tbody tr button[aria-label^="Delete big"]`)),
		chromedp.Click(chromedp.CSS(`#videos tbody tr button[aria-label^="Delete big"]`)))
	poll[bool](t, ctx, "deleted", 30*time.Second, `document.querySelectorAll("#videos tbody tr").length === 2`)
	if vs, err := app.Pipeline.Catalog.List(context.Background(), scenedex.ListQuery{}); err != nil || len(vs.Videos) != 2 ||
		strings.HasPrefix(vs.Videos[0].Filename, "big") || strings.HasPrefix(vs.Videos[1].Filename, "big") {
		t.Fatalf("after delete: %+v %v", vs, err)
	}
}
