package words

import (
	"slices"
	"testing"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// FuzzParse parses arbitrary queries. Whatever the input: no panic; every
// term and phrase word is one word as the indexes tokenise it (so each can
// match); terms are distinct and at most MaxTerms; a query with a word is
// never empty; and marking the query's own text against it gives ranges
// inside the text, ascending and apart. The seed corpus is
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`a red "double decker" bus`, `"unclosed phrase`, `the of and`, `東京タワー "夜 景"`,
		"İstanbul ǅemal ß", `""""`, "\xff\xfe\"x\"", "café\u0301 e\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		wq := Parse(q)
		if len(wq.Terms) > MaxTerms {
			t.Fatalf("%d terms, more than %d", len(wq.Terms), MaxTerms)
		}
		seen := map[string]bool{}
		for _, w := range wq.Terms {
			if seen[w] {
				t.Fatalf("term %q twice in %q", w, wq.Terms)
			}
			seen[w] = true
			oneWord(t, q, w)
		}
		for _, p := range wq.Phrases {
			if len(p) < 2 {
				t.Fatalf("phrase %q of fewer than two words", p)
			}
			for _, w := range p {
				oneWord(t, q, w)
			}
		}
		if len(Tokens(q)) > 0 && Empty(wq) {
			t.Fatalf("%q has words %q but parsed to an empty query", q, Tokens(q))
		}
		for _, m := range Mark([]scenedex.TextLine{{Text: q}}, wq) {
			end := 0
			for _, r := range m.Marks {
				if r[0] < end || r[0] >= r[1] || r[1] > len(q) {
					t.Fatalf("marks %v of %q are not ascending, apart ranges inside it", m.Marks, q)
				}
				end = r[1]
			}
		}
	})
}

// oneWord fails unless the index's tokeniser reads w as the single word w.
func oneWord(t *testing.T, q, w string) {
	t.Helper()
	if got := Tokens(w); !slices.Equal(got, []string{w}) {
		t.Fatalf("query %q: word %q tokenises to %q, so it can never match", q, w, got)
	}
}
