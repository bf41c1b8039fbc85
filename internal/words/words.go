// Package words is how scenedex handles words, the same way in every index:
// tokenising (lower case, letters and digits; each CJK character a word of
// its own), parsing a query (quotes mean an exact phrase), merging the lines
// read from a chunk's frames, and marking where a hit's lines match.
package words

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Token is one word of a text and where it sits (byte offsets).
type Token struct {
	Word       string
	Start, End int
}

// cjk reports whether r is written without spaces between words, so each
// character is indexed as a word (a phrase query then finds any run).
func cjk(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// Split returns the words of s with their offsets.
func Split(s string) []Token {
	var out []Token
	start := -1
	flush := func(end int) {
		if start >= 0 {
			out = append(out, Token{Word: strings.ToLower(s[start:end]), Start: start, End: end})
			start = -1
		}
	}
	for i, r := range s {
		switch {
		case cjk(r):
			flush(i)
			n := utf8.RuneLen(r)
			out = append(out, Token{Word: s[i : i+n], Start: i, End: i + n})
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			if start < 0 {
				start = i
			}
		default:
			flush(i)
		}
	}
	flush(len(s))
	return out
}

// Tokens returns the words of s.
func Tokens(s string) []string {
	ts := Split(s)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Word
	}
	return out
}

// IndexText is what a full-text index stores for some lines: their words,
// space-separated (so the index's own tokeniser sees exactly these words),
// one line per line.
func IndexText(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		if ws := Tokens(l); len(ws) > 0 {
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(strings.Join(ws, " "))
		}
	}
	return b.String()
}

// ScreenText is IndexText of the lines read on screen.
func ScreenText(lines []scenedex.TextLine) string {
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.Text
	}
	return IndexText(texts)
}

// MetaText is IndexText of a chunk's filename (without its extension) and its
// metadata values, in key order.
func MetaText(c scenedex.Chunk) string {
	texts := []string{strings.TrimSuffix(c.Filename, filepath.Ext(c.Filename))}
	keys := make([]string, 0, len(c.Metadata))
	for k := range c.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		texts = append(texts, c.Metadata[k])
	}
	return IndexText(texts)
}

// stop words carry no meaning on their own; a query of nothing else keeps them.
var stop = map[string]bool{
	"a": true, "an": true, "the": true, "of": true, "and": true, "or": true, "in": true, "on": true, "at": true,
	"to": true, "is": true, "are": true, "with": true, "for": true, "from": true, "by": true,
}

// MaxTerms bounds the words a query may have.
const MaxTerms = 64

// Parse turns a user's query into terms and phrases: "quoted text" is a
// phrase, every other word a term. It returns an empty query when q has no
// words.
func Parse(q string) scenedex.WordQuery {
	var wq scenedex.WordQuery
	var loose []string
	for i, part := range strings.Split(q, `"`) {
		ws := Tokens(part)
		if i%2 == 1 && len(ws) > 1 {
			wq.Phrases = append(wq.Phrases, ws)
			continue
		}
		loose = append(loose, ws...) // unquoted, or a quoted single word
	}
	seen := map[string]bool{}
	for _, w := range loose {
		if !stop[w] && !seen[w] {
			seen[w] = true
			wq.Terms = append(wq.Terms, w)
		}
	}
	if len(wq.Terms) == 0 && len(wq.Phrases) == 0 {
		for _, w := range loose {
			if !seen[w] {
				seen[w] = true
				wq.Terms = append(wq.Terms, w)
			}
		}
	}
	if len(wq.Terms) > MaxTerms {
		wq.Terms = wq.Terms[:MaxTerms]
	}
	return wq
}

// Empty reports whether q has nothing to search for.
func Empty(q scenedex.WordQuery) bool { return len(q.Terms) == 0 && len(q.Phrases) == 0 }

// Mark returns the lines that match q, with the byte ranges that matched:
// every phrase occurrence and every term. Lines are kept in their order.
func Mark(lines []scenedex.TextLine, q scenedex.WordQuery) []scenedex.MatchedLine {
	terms := map[string]bool{}
	for _, t := range q.Terms {
		terms[t] = true
	}
	var out []scenedex.MatchedLine
	for _, l := range lines {
		ts := Split(l.Text)
		var marks [][2]int
		for i, t := range ts {
			if terms[t.Word] {
				marks = append(marks, [2]int{t.Start, t.End})
			}
			for _, p := range q.Phrases {
				if phraseAt(ts, i, p) {
					marks = append(marks, [2]int{t.Start, ts[i+len(p)-1].End})
				}
			}
		}
		if len(marks) > 0 {
			out = append(out, scenedex.MatchedLine{Text: l.Text, T: l.T, Marks: union(marks)})
		}
	}
	return out
}

func phraseAt(ts []Token, i int, p []string) bool {
	if i+len(p) > len(ts) {
		return false
	}
	for j, w := range p {
		if ts[i+j].Word != w {
			return false
		}
	}
	return true
}

// union sorts ranges and merges the overlapping ones.
func union(rs [][2]int) [][2]int {
	sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r[0] <= last[1] {
			last[1] = max(last[1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// Merge combines the lines read from a chunk's frames (perFrame[i] read from
// the frame at times[i]) into one list: the same line seen on several frames
// (same words, or nearly: OCR varies a character between frames; or a part of
// it, as moving or partly covered text is read) is kept once, in its fullest
// reading, with the first second it was seen. Lines are
// ordered by that second, then by how they were read.
func Merge(perFrame [][]scenedex.TextLine, times []float64) []scenedex.TextLine {
	type kept struct {
		line scenedex.TextLine
		key  string
	}
	var out []kept
	for i, lines := range perFrame {
		t := 0.0
		if i < len(times) {
			t = times[i]
		}
	next:
		for _, l := range lines {
			key := strings.Join(Tokens(l.Text), " ")
			if key == "" {
				continue
			}
			for j := range out {
				switch {
				case similar(out[j].key, key):
					if l.Confidence > out[j].line.Confidence {
						out[j].line.Text, out[j].line.Confidence = l.Text, l.Confidence
					}
				case within(key, out[j].key): // a part of a line already kept
				case within(out[j].key, key): // a fuller reading of a kept line
					out[j].line.Text, out[j].line.Confidence, out[j].key = l.Text, l.Confidence, key
				default:
					continue
				}
				out[j].line.T = min(out[j].line.T, t)
				continue next
			}
			out = append(out, kept{line: scenedex.TextLine{Text: l.Text, Confidence: l.Confidence, T: t}, key: key})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].line.T < out[j].line.T })
	lines := make([]scenedex.TextLine, len(out))
	for i, k := range out {
		lines[i] = k.line
	}
	return lines
}

// within reports whether the words of part run, whole, inside line.
func within(part, line string) bool {
	return len(part) < len(line) && strings.Contains(" "+line+" ", " "+part+" ")
}

// similar: equal, or within one edit per ten characters.
func similar(a, b string) bool {
	if a == b {
		return true
	}
	ra, rb := []rune(a), []rune(b)
	budget := max(len(ra), len(rb)) / 10
	if budget == 0 || abs(len(ra)-len(rb)) > budget {
		return false
	}
	return editDistance(ra, rb, budget) <= budget
}

// editDistance is Levenshtein's, giving up (returning budget+1) once the
// distance must exceed budget.
func editDistance(a, b []rune, budget int) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > budget {
			return budget + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// Coverage is the share of q's terms and phrases that lines show (0 to 1).
func Coverage(lines []scenedex.TextLine, q scenedex.WordQuery) float64 {
	total := len(q.Terms) + len(q.Phrases)
	if total == 0 {
		return 0
	}
	found := map[string]bool{}
	for _, l := range lines {
		ts := Split(l.Text)
		for i, t := range ts {
			found[t.Word] = true
			for j, p := range q.Phrases {
				if phraseAt(ts, i, p) {
					found["\x00phrase"+strconv.Itoa(j)] = true
				}
			}
		}
	}
	n := 0
	for _, t := range q.Terms {
		if found[t] {
			n++
		}
	}
	for j := range q.Phrases {
		if found["\x00phrase"+strconv.Itoa(j)] {
			n++
		}
	}
	return float64(n) / float64(total)
}
