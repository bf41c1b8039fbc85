package vecindex

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/words"
)

func wordDoc(video string, i int, collection, filename string, lines ...string) scenedex.Doc {
	d := scenedex.Doc{Chunk: scenedex.Chunk{VideoID: video, Index: i, Collection: collection, Filename: filename,
		Start: float64(i * 10), End: float64(i*10 + 10), Metadata: map[string]string{"brand": "acme"}},
		Vector: []float32{1, float32(i), 0}}
	for j, l := range lines {
		d.Lines = append(d.Lines, scenedex.TextLine{Text: l, Confidence: 0.9, T: float64(i*10 + j)})
	}
	return d
}

func ids(hits []scenedex.WordHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = scenedex.ChunkID(h.VideoID, h.Chunk)
	}
	return out
}

// TestSearchWords runs BM25 over real SQLite FTS5: terms, phrases, CJK,
// filters, replace on upsert, delete, and a restart.
func TestSearchWords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ix.db")
	ix, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	docs := []scenedex.Doc{
		wordDoc("v1", 0, "ads", "beach.mp4", "SUMMER SALE", "50% off everything"),
		wordDoc("v1", 1, "ads", "beach.mp4", "sale ends soon"),
		wordDoc("v1", 2, "ads", "beach.mp4"),
		wordDoc("v2", 0, "talks", "lecture.mp4", "Fourier transforms", "summer school"),
		wordDoc("v2", 1, "talks", "lecture.mp4", "欢迎光临北京"),
	}
	if err := ix.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	search := func(q string, f scenedex.Filter) []scenedex.WordHit {
		t.Helper()
		hits, err := ix.SearchWords(ctx, words.Parse(q), 10, f)
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}
	cases := []struct {
		q     string
		f     scenedex.Filter
		first string
		n     int
	}{
		{"summer sale", scenedex.Filter{}, "v1:0", 3},               // both words beat one
		{`"summer sale"`, scenedex.Filter{}, "v1:0", 1},             // exact phrase only
		{`"sale summer"`, scenedex.Filter{}, "", 0},                 // order matters in a phrase
		{"sale", scenedex.Filter{Collection: "talks"}, "", 0},       // collection filter
		{"summer", scenedex.Filter{Collection: "talks"}, "v2:0", 1}, // ...
		{"fourier", scenedex.Filter{Metadata: map[string]string{"brand": "other"}}, "", 0},
		{"北京", scenedex.Filter{}, "v2:1", 1},
		{"lecture", scenedex.Filter{}, "v2:0", 2}, // the filename is a word of every chunk
		{"acme", scenedex.Filter{}, "", 5},        // metadata values too
		{"zebra", scenedex.Filter{}, "", 0},
		{`"off everything" sale`, scenedex.Filter{}, "v1:0", 1},
		{"sale", scenedex.Filter{ExcludeID: "v1:0"}, "v1:1", 1},
		{`NEAR OR "quoted" AND *`, scenedex.Filter{}, "", 0}, // FTS5 syntax is just words
	}
	for _, c := range cases {
		got := search(c.q, c.f)
		if len(got) != c.n || (c.first != "" && ids(got)[0] != c.first) {
			t.Errorf("%q %+v: got %v, want %d hits first %s", c.q, c.f, ids(got), c.n, c.first)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Score > got[i-1].Score {
				t.Errorf("%q: not best first: %v", c.q, got)
			}
		}
	}
	if h := search("ends", scenedex.Filter{}); len(h) != 1 || len(h[0].Lines) != 1 || h[0].Lines[0].T != 10 || h[0].Score <= 0 {
		t.Fatalf("hit lines %+v", h)
	}
	// Re-indexing a chunk replaces its words.
	if err := ix.Upsert(ctx, []scenedex.Doc{wordDoc("v1", 1, "ads", "beach.mp4", "winter coats")}); err != nil {
		t.Fatal(err)
	}
	if got := search("ends", scenedex.Filter{}); len(got) != 0 {
		t.Fatalf("old words still found: %v", ids(got))
	}
	// Deleting a video removes its words; the rest survives a restart.
	if err := ix.DeleteVideo(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if ix, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if got := search("fourier", scenedex.Filter{}); len(got) != 0 {
		t.Fatalf("deleted video found: %v", ids(got))
	}
	if got := search("winter", scenedex.Filter{}); len(got) != 1 {
		t.Fatalf("after restart: %v", ids(got))
	}
	d, err := ix.Get(ctx, "v1:0")
	if err != nil || len(d.Lines) != 2 || d.Lines[1].Text != "50% off everything" {
		t.Fatalf("Get lines %+v %v", d.Lines, err)
	}
}

// TestOpenIndexWithoutWords opens an index made before words were read (no
// lines column, no words table): it upgrades in place and keeps the vectors.
func TestOpenIndexWithoutWords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sqlite.Open(ctx, path, `CREATE TABLE docs (id TEXT PRIMARY KEY, video_id TEXT NOT NULL, chunk TEXT NOT NULL, vector BLOB NOT NULL);`)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, db, "v:0", `{"video_id":"v","index":0,"filename":"old.mp4"}`, encode([]float32{1, 0}))
	db.Close()
	ix, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if ix.Len() != 1 {
		t.Fatalf("len %d", ix.Len())
	}
	d, err := ix.Get(ctx, "v:0")
	if err != nil || len(d.Lines) != 0 {
		t.Fatalf("%+v %v", d, err)
	}
	// Not in the words table until re-indexed: that is what reindex is for.
	if hits, _ := ix.SearchWords(ctx, words.Parse("old"), 5, scenedex.Filter{}); len(hits) != 0 {
		t.Fatalf("hits %v", ids(hits))
	}
	d.Lines = []scenedex.TextLine{{Text: "now with words"}}
	if err := ix.Upsert(ctx, []scenedex.Doc{d}); err != nil {
		t.Fatal(err)
	}
	if hits, _ := ix.SearchWords(ctx, words.Parse("words old"), 5, scenedex.Filter{}); len(hits) != 1 {
		t.Fatalf("after reindex: %v", ids(hits))
	}
}

func insert(t *testing.T, db *sql.DB, id, chunk string, vec []byte) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO docs (id, video_id, chunk, vector) VALUES (?, 'v', ?, ?)`, id, chunk, vec); err != nil {
		t.Fatal(err)
	}
}

// The index records which model made its vectors and refuses another's:
// vectors of two models cannot be compared, even of one dimension. The
// record survives a restart.
func TestOneModelPerIndex(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ix.db")
	ix, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a := wordDoc("v1", 0, "ads", "x.mp4")
	a.Model = "clip-a"
	if err := ix.Upsert(ctx, []scenedex.Doc{a}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if ix, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	b := wordDoc("v1", 1, "ads", "x.mp4")
	b.Model = "clip-b"
	if err := ix.Upsert(ctx, []scenedex.Doc{b}); scenedex.ErrorCode(err) != scenedex.CodeConflict || !strings.Contains(err.Error(), "clip-a") {
		t.Fatalf("another model's vector: %v", err)
	}
	b.Model = "clip-a"
	if err := ix.Upsert(ctx, []scenedex.Doc{b}); err != nil {
		t.Fatal(err)
	}
	if d, _ := ix.Get(ctx, "v1:1"); d.Model != "clip-a" {
		t.Fatalf("model not kept: %+v", d)
	}
}
