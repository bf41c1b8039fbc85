package clip

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The oracle: token ids from OpenAI's own reference tokenizer
// (clip/simple_tokenizer.py) for phrases covering case, punctuation,
// apostrophes, spacing, accents, CJK, emoji, numbers and truncation at 77.
// testdata holds its vocabulary (MIT, LICENSE-openai-clip beside it).
func TestTokenizerMatchesOpenAI(t *testing.T) {
	tok, err := FromOpenAIMerges("testdata/bpe_simple_vocab_16e6.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/clip-tokenizer-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var oracle struct {
		Start, End int
		VocabSize  int `json:"vocab_size"`
		Cases      []struct {
			Text  string  `json:"text"`
			IDs   []int   `json:"ids"`
			IDs77 []int64 `json:"ids_77"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &oracle); err != nil {
		t.Fatal(err)
	}
	if tok.Start != oracle.Start || tok.End != oracle.End || len(tok.encoder) != oracle.VocabSize {
		t.Fatalf("start %d end %d vocab %d; oracle %d %d %d", tok.Start, tok.End, len(tok.encoder), oracle.Start, oracle.End, oracle.VocabSize)
	}
	for _, c := range oracle.Cases {
		got := append(append([]int{tok.Start}, tok.Encode(c.Text)...), tok.End)
		if !reflect.DeepEqual(got, c.IDs) {
			t.Errorf("%q:\n got  %v\n want %v", c.Text, got, c.IDs)
		}
		ids, mask := tok.Context(c.Text)
		n := 0
		for _, m := range mask {
			n += int(m)
		}
		if !reflect.DeepEqual(ids[:n], c.IDs77) || len(ids) != ContextLength {
			t.Errorf("%q context: %v, want %v", c.Text, ids[:n], c.IDs77)
		}
	}
}

// The same vocabulary in Hugging Face's two layouts — tokenizer.json (merges
// as "a b" strings, or as pairs in newer exports) and vocab.json + merges.txt —
// tokenizes the same.
func TestTokenizerFilesAgree(t *testing.T) {
	ref, err := FromOpenAIMerges("testdata/bpe_simple_vocab_16e6.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	merges := make([][2]string, len(ref.ranks))
	for m, r := range ref.ranks {
		merges[r] = m
	}
	dir := t.TempDir()
	var asStrings []string
	for _, m := range merges {
		asStrings = append(asStrings, m[0]+" "+m[1])
	}
	write := func(name string, v any) string {
		b, _ := json.Marshal(v)
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	tj1 := write("tokenizer.json", map[string]any{"model": map[string]any{"type": "BPE", "vocab": ref.encoder, "merges": asStrings}})
	tj2 := write("tokenizer-pairs.json", map[string]any{"model": map[string]any{"type": "BPE", "vocab": ref.encoder, "merges": merges}})
	vocab := write("vocab.json", ref.encoder)
	mergesTxt := filepath.Join(dir, "merges.txt")
	os.WriteFile(mergesTxt, []byte("#version: 0.2\n"+strings.Join(asStrings, "\n")+"\n"), 0o644)
	a, err1 := FromTokenizerJSON(tj1)
	b, err2 := FromTokenizerJSON(tj2)
	c, err3 := FromVocabMerges(vocab, mergesTxt)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	for _, text := range []string{"a photo of a cat", "Ünïcödé 北京 🎉 don't", "3.14159"} {
		want := ref.Encode(text)
		for i, tok := range []*Tokenizer{a, b, c} {
			if got := tok.Encode(text); !reflect.DeepEqual(got, want) {
				t.Errorf("layout %d, %q: %v, want %v", i, text, got, want)
			}
		}
	}
	sp := write("sp.json", map[string]any{"model": map[string]any{"type": "Unigram", "vocab": []any{}}})
	if _, err := FromTokenizerJSON(sp); err == nil || !strings.Contains(err.Error(), "SentencePiece") {
		t.Errorf("a SentencePiece tokenizer: %v", err)
	}
}
