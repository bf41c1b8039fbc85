package vecindex

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/vector"
)

const dim = 64

func randomDocs(r *rand.Rand, n int, video string, collections ...string) []scenedex.Doc {
	docs := make([]scenedex.Doc, n)
	for i := range docs {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		docs[i] = scenedex.Doc{Chunk: scenedex.Chunk{VideoID: video, Index: i, Collection: collections[i%len(collections)],
			Metadata: map[string]string{"parity": fmt.Sprint(i % 2)}}, Vector: v}
	}
	return docs
}

func TestSearchMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ix.db")
	ix, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	docs := append(randomDocs(r, 30000, "a", "ads", "talks"), randomDocs(r, 500, "b", "ads")...)
	if err := ix.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	// Upserting again replaces, never duplicates.
	if err := ix.Upsert(ctx, docs[:100]); err != nil {
		t.Fatal(err)
	}
	if ix.Len() != len(docs) {
		t.Fatalf("len %d, want %d", ix.Len(), len(docs))
	}
	q := randomDocs(r, 1, "q", "x")[0].Vector
	tests := []struct {
		name string
		f    scenedex.Filter
	}{
		{"all", scenedex.Filter{}},
		{"collection", scenedex.Filter{Collection: "talks"}},
		{"metadata", scenedex.Filter{Collection: "ads", Metadata: map[string]string{"parity": "1"}}},
		{"exclude", scenedex.Filter{ExcludeID: "a:17"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ix.Search(ctx, q, 10, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteForce(docs, q, 10, tc.f)
			if len(got) != len(want) {
				t.Fatalf("got %d hits, want %d", len(got), len(want))
			}
			for i := range want {
				if id := scenedex.ChunkID(got[i].VideoID, got[i].Chunk); id != want[i] {
					t.Errorf("hit %d = %s, want %s", i, id, want[i])
				}
			}
		})
	}
	// Persisted: reopen and delete a video.
	ix.Close()
	ix, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if ix.Len() != len(docs) {
		t.Fatalf("after reopen len %d", ix.Len())
	}
	if err := ix.DeleteVideo(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 30000 {
		t.Fatalf("after delete len %d", ix.Len())
	}
	hits, _ := ix.Search(ctx, q, 50, scenedex.Filter{})
	for _, h := range hits {
		if h.VideoID == "b" {
			t.Fatal("deleted video still found")
		}
	}
	if d, err := ix.Get(ctx, "a:5"); err != nil || d.Index != 5 {
		t.Fatalf("get a:5 after compaction: %+v %v", d.Chunk, err)
	}
	if _, err := ix.Get(ctx, "b:5"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := ix.Search(ctx, make([]float32, dim+1), 5, scenedex.Filter{}); scenedex.ErrorCode(err) != scenedex.CodeInvalid {
		t.Fatalf("wrong dimension: %v", err)
	}
}

// bruteForce is the reference: score everything in float64, sort.
func bruteForce(docs []scenedex.Doc, q []float32, k int, f scenedex.Filter) []string {
	type s struct {
		id    string
		score float64
	}
	qq := append([]float32(nil), q...)
	vector.Normalize(qq)
	var all []s
	for _, d := range docs {
		if !matches(&d.Chunk, f) || d.ID() == f.ExcludeID {
			continue
		}
		var sc float64
		for i := range qq {
			sc += float64(qq[i]) * float64(d.Vector[i])
		}
		all = append(all, s{d.ID(), sc})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].score > all[j].score })
	out := make([]string, 0, k)
	for i := 0; i < k && i < len(all); i++ {
		out = append(out, all[i].id)
	}
	return out
}

// BenchmarkSearch reports search latency percentiles at 10k and 100k chunks
// with the local model's dimension, next to a naive single-goroutine scan
// (the reference) in the same run.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	const modelDim = 308
	for _, n := range []int{10_000, 100_000} {
		ix := &Index{byID: map[string]int{}}
		r := rand.New(rand.NewPCG(3, 4))
		for i := range n {
			v := make([]float32, modelDim)
			for j := range v {
				v[j] = float32(r.NormFloat64())
			}
			vector.Normalize(v)
			ix.put(fmt.Sprintf("v%d:%d", i/100, i%100), scenedex.Chunk{VideoID: fmt.Sprint("v", i/100), Index: i % 100, Collection: []string{"a", "b"}[i%2]}, v)
		}
		q := append([]float32(nil), ix.vecs[:modelDim]...)
		for _, mode := range []string{"index", "naive"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, mode), func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					if mode == "index" {
						if _, err := ix.Search(ctx, q, 10, scenedex.Filter{Collection: "a"}); err != nil {
							b.Fatal(err)
						}
					} else {
						naiveSearch(ix, q, 10, "a")
					}
					lat = append(lat, time.Since(start))
				}
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// naiveSearch scores every row into a slice and sorts it: what one would
// write first.
func naiveSearch(ix *Index, q []float32, k int, collection string) []int {
	type s struct {
		row   int
		score float32
	}
	var all []s
	for r := range ix.ids {
		if ix.meta[r].Collection != collection {
			continue
		}
		var sc float32
		for i, x := range q {
			sc += x * ix.vecs[r*ix.dim+i]
		}
		all = append(all, s{r, sc})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].score > all[j].score })
	out := make([]int, k)
	for i := range out {
		out[i] = all[i].row
	}
	return out
}
