// Package clip holds what a CLIP-family model needs around its ONNX graphs:
// the byte-level BPE tokenizer (from the model's own tokenizer.json, or
// vocab.json + merges.txt, or OpenAI's merges file) and the image
// preprocessing its preprocessor_config.json describes.
package clip

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ContextLength is CLIP's text context: start, up to 75 tokens, end.
const ContextLength = 77

// Tokenizer is CLIP's byte-level BPE.
type Tokenizer struct {
	encoder    map[string]int
	ranks      map[[2]string]int
	byteToRune [256]rune
	mu         sync.Mutex
	cache      map[string][]string
	Start, End int // <|startoftext|>, <|endoftext|>
}

// bytesToUnicode is CLIP's (and GPT-2's) table: printable bytes map to
// themselves, the others to runes from 256 up, so every byte string is text.
// order lists the runes as the vocabulary does: printable bytes first (in
// byte order), then the others.
func bytesToUnicode() (table [256]rune, order []rune) {
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	n := 0
	for b := 0; b < 256; b++ {
		if printable(b) {
			table[b] = rune(b)
			order = append(order, rune(b))
		}
	}
	for b := 0; b < 256; b++ {
		if !printable(b) {
			table[b] = rune(256 + n)
			order = append(order, table[b])
			n++
		}
	}
	return table, order
}

func newTokenizer(encoder map[string]int, merges [][2]string) (*Tokenizer, error) {
	table, _ := bytesToUnicode()
	t := &Tokenizer{encoder: encoder, ranks: map[[2]string]int{}, byteToRune: table, cache: map[string][]string{}}
	for i, m := range merges {
		t.ranks[m] = i
	}
	var ok1, ok2 bool
	t.Start, ok1 = encoder["<|startoftext|>"]
	t.End, ok2 = encoder["<|endoftext|>"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("vocabulary lacks <|startoftext|> or <|endoftext|>")
	}
	return t, nil
}

// FromOpenAIMerges builds the tokenizer from OpenAI's
// bpe_simple_vocab_16e6.txt.gz, as clip/simple_tokenizer.py does.
func FromOpenAIMerges(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(gz)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	const n = 49152 - 256 - 2 // merges used: lines [1, n]
	if len(lines) < n+1 {
		return nil, fmt.Errorf("%s: %d lines, want at least %d", path, len(lines), n+1)
	}
	var merges [][2]string
	for _, l := range lines[1 : n+1] {
		a, b, ok := strings.Cut(l, " ")
		if !ok {
			return nil, fmt.Errorf("%s: merge %q", path, l)
		}
		merges = append(merges, [2]string{a, b})
	}
	_, order := bytesToUnicode()
	var vocab []string
	for _, r := range order {
		vocab = append(vocab, string(r))
	}
	for _, r := range order {
		vocab = append(vocab, string(r)+"</w>")
	}
	for _, m := range merges {
		vocab = append(vocab, m[0]+m[1])
	}
	vocab = append(vocab, "<|startoftext|>", "<|endoftext|>")
	encoder := make(map[string]int, len(vocab))
	for i, v := range vocab {
		encoder[v] = i
	}
	return newTokenizer(encoder, merges)
}

// FromTokenizerJSON reads a Hugging Face tokenizer.json of a BPE model
// (model.vocab, model.merges as "a b" strings or [a, b] pairs).
func FromTokenizerJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tj struct {
		Model struct {
			Type   string            `json:"type"`
			Vocab  json.RawMessage   `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var vocab map[string]int
	if tj.Model.Type != "BPE" || json.Unmarshal(tj.Model.Vocab, &vocab) != nil || len(vocab) == 0 {
		return nil, fmt.Errorf("%s: a %q model, want CLIP's byte-level BPE (SentencePiece models such as SigLIP's are not supported yet)", path, tj.Model.Type)
	}
	merges := make([][2]string, 0, len(tj.Model.Merges))
	for _, raw := range tj.Model.Merges {
		var s string
		var pair [2]string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("%s: merge %q", path, s)
			}
			pair = [2]string{a, b}
		case json.Unmarshal(raw, &pair) == nil:
		default:
			return nil, fmt.Errorf("%s: merge %s", path, raw)
		}
		merges = append(merges, pair)
	}
	return newTokenizer(vocab, merges)
}

// FromVocabMerges reads vocab.json and merges.txt.
func FromVocabMerges(vocabPath, mergesPath string) (*Tokenizer, error) {
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, err
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("%s: %w", vocabPath, err)
	}
	f, err := os.Open(mergesPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var merges [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#version") || strings.TrimSpace(l) == "" {
			continue
		}
		a, b, ok := strings.Cut(l, " ")
		if !ok {
			return nil, fmt.Errorf("%s: merge %q", mergesPath, l)
		}
		merges = append(merges, [2]string{a, b})
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		return nil, err
	}
	return newTokenizer(vocab, merges)
}

// pattern is CLIP's pre-tokenizer (simple_tokenizer.py), case-insensitive.
var pattern = regexp.MustCompile(`(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\pL]+|[\pN]|[^\s\pL\pN]+`)

var spaces = regexp.MustCompile(`\s+`)

// clean is basic_clean + whitespace_clean + lower: NFC for ftfy's fix_text,
// HTML entities undone twice, runs of space made one.
func clean(text string) string {
	text = norm.NFC.String(text)
	text = html.UnescapeString(html.UnescapeString(text))
	return strings.ToLower(strings.TrimSpace(spaces.ReplaceAllString(strings.TrimSpace(text), " ")))
}

// Encode returns the token ids of text, without start and end.
func (t *Tokenizer) Encode(text string) []int {
	var ids []int
	for _, word := range pattern.FindAllString(clean(text), -1) {
		var b strings.Builder
		for _, c := range []byte(word) {
			b.WriteRune(t.byteToRune[c])
		}
		for _, tok := range t.bpe(b.String()) {
			if id, ok := t.encoder[tok]; ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// Context is the model's input for text: start, the tokens (cut to fit),
// end, then zeros to ContextLength; and the attention mask.
func (t *Tokenizer) Context(text string) (ids, mask []int64) {
	toks := t.Encode(text)
	if len(toks) > ContextLength-2 {
		toks = toks[:ContextLength-2]
	}
	ids = make([]int64, ContextLength)
	mask = make([]int64, ContextLength)
	ids[0], mask[0] = int64(t.Start), 1
	for i, id := range toks {
		ids[i+1], mask[i+1] = int64(id), 1
	}
	ids[len(toks)+1], mask[len(toks)+1] = int64(t.End), 1
	return ids, mask
}

// bpe merges the symbols of one pre-token, lowest-ranked pair first.
func (t *Tokenizer) bpe(token string) []string {
	t.mu.Lock()
	cached, ok := t.cache[token]
	t.mu.Unlock()
	if ok {
		return cached
	}
	var word []string
	for i, r := range token {
		s := string(r)
		if i+utf8.RuneLen(r) == len(token) {
			s += "</w>"
		}
		word = append(word, s)
	}
	for len(word) > 1 {
		best, bestRank := -1, int(^uint(0)>>1)
		for i := 0; i+1 < len(word); i++ {
			if r, ok := t.ranks[[2]string{word[i], word[i+1]}]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		a, b := word[best], word[best+1]
		var merged []string
		for i := 0; i < len(word); i++ {
			if i+1 < len(word) && word[i] == a && word[i+1] == b {
				merged = append(merged, a+b)
				i++
				continue
			}
			merged = append(merged, word[i])
		}
		word = merged
	}
	t.mu.Lock()
	if len(t.cache) < 100_000 {
		t.cache[token] = word
	}
	t.mu.Unlock()
	return word
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
