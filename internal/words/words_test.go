package words

import (
	"reflect"
	"testing"

	"github.com/scenedex/scenedex/internal/scenedex"
)

func TestTokens(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"Summer SALE: 50% off!", []string{"summer", "sale", "50", "off"}},
		{"crowd_celebrating.mp4", []string{"crowd", "celebrating", "mp4"}},
		{"欢迎光临 北京", []string{"欢", "迎", "光", "临", "北", "京"}},
		{"Café Zürich", []string{"café", "zürich"}},
		{"  ", nil},
		{"a-b c", []string{"a", "b", "c"}},
	}
	for _, c := range cases {
		if got := Tokens(c.in); !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("Tokens(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want scenedex.WordQuery
	}{
		{"crowd celebrating", scenedex.WordQuery{Terms: []string{"crowd", "celebrating"}}},
		{`"summer sale" now`, scenedex.WordQuery{Terms: []string{"now"}, Phrases: [][]string{{"summer", "sale"}}}},
		{`a photo of the cat`, scenedex.WordQuery{Terms: []string{"photo", "cat"}}},
		{`the a`, scenedex.WordQuery{Terms: []string{"the", "a"}}},
		{`"sale"`, scenedex.WordQuery{Terms: []string{"sale"}}},
		{`"unclosed phrase here`, scenedex.WordQuery{Phrases: [][]string{{"unclosed", "phrase", "here"}}}},
		{`北京 "限时优惠"`, scenedex.WordQuery{Terms: []string{"北", "京"}, Phrases: [][]string{{"限", "时", "优", "惠"}}}},
		{`!!!`, scenedex.WordQuery{}},
		{`Crowd crowd CROWD`, scenedex.WordQuery{Terms: []string{"crowd"}}},
	}
	for _, c := range cases {
		got := Parse(c.in)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
	if !Empty(Parse("...")) || Empty(Parse("x")) {
		t.Error("Empty")
	}
}

func TestMark(t *testing.T) {
	lines := []scenedex.TextLine{{Text: "SUMMER SALE 50% off", T: 3}, {Text: "nothing here", T: 4}, {Text: "Sale ends soon", T: 6}}
	got := Mark(lines, Parse(`sale "ends soon"`))
	want := []scenedex.MatchedLine{
		{Text: "SUMMER SALE 50% off", T: 3, Marks: [][2]int{{7, 11}}},
		{Text: "Sale ends soon", T: 6, Marks: [][2]int{{0, 4}, {5, 14}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Mark = %+v, want %+v", got, want)
	}
	// Overlapping term and phrase marks merge.
	got = Mark([]scenedex.TextLine{{Text: "big sale today"}}, Parse(`sale "big sale"`))
	if !reflect.DeepEqual(got[0].Marks, [][2]int{{0, 8}}) {
		t.Fatalf("merged marks %v", got[0].Marks)
	}
	// CJK phrase: byte offsets of the runes.
	got = Mark([]scenedex.TextLine{{Text: "欢迎光临北京"}}, Parse(`"北京"`))
	if len(got) != 1 || got[0].Text[got[0].Marks[0][0]:got[0].Marks[0][1]] != "北京" {
		t.Fatalf("CJK marks %+v", got)
	}
	if Mark(lines, Parse("absent")) != nil {
		t.Fatal("a word not in any line marked something")
	}
}

func TestMerge(t *testing.T) {
	perFrame := [][]scenedex.TextLine{
		{{Text: "SUMMER SALE", Confidence: 0.90}, {Text: "Shop now", Confidence: 0.8}},
		{{Text: "SUMMER SALE", Confidence: 0.97}},
		{{Text: "SUMMER SALF", Confidence: 0.70}, {Text: "New arrivals", Confidence: 0.9}}, // one OCR slip: same line
		{{Text: "   ", Confidence: 0.9}, {Text: "Shop", Confidence: 0.99}},                 // a part of a kept line
		{{Text: "Shop now online", Confidence: 0.85}, {Text: "arrivals", Confidence: 0.9}}, // a fuller reading
	}
	got := Merge(perFrame, []float64{10, 12.5, 15, 17.5, 20})
	want := []scenedex.TextLine{
		{Text: "SUMMER SALE", Confidence: 0.97, T: 10},
		{Text: "Shop now online", Confidence: 0.85, T: 10},
		{Text: "New arrivals", Confidence: 0.9, T: 15},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Merge = %+v\nwant %+v", got, want)
	}
	if got := Merge(nil, nil); len(got) != 0 {
		t.Fatal("empty merge")
	}
}

func TestSimilar(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"summer sale", "summer sale", true},
		{"summer sale", "summer salf", true},
		{"sale", "salf", false}, // short lines must match exactly
		{"summer sale", "winter sale", false},
		{"insurance claim number 48213", "insurance claim number 48218", true},
	}
	for _, c := range cases {
		if got := similar(c.a, c.b); got != c.want {
			t.Errorf("similar(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestIndexAndMetaText(t *testing.T) {
	if got := IndexText([]string{"Summer SALE!", "", "欢迎"}); got != "summer sale\n欢 迎" {
		t.Fatalf("IndexText = %q", got)
	}
	c := scenedex.Chunk{Filename: "beach_party.mp4", Metadata: map[string]string{"z": "Zebra Ads", "a": "Acme"}}
	if got := MetaText(c); got != "beach party\nacme\nzebra ads" {
		t.Fatalf("MetaText = %q", got)
	}
}

func TestCoverage(t *testing.T) {
	lines := []scenedex.TextLine{{Text: "Big summer sale"}, {Text: "ends soon"}}
	for q, want := range map[string]float64{"summer sale": 1, "winter sale": 0.5, `"sale ends"`: 0, `"ends soon" big`: 1, "zeppelin": 0} {
		if got := Coverage(lines, Parse(q)); got != want {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
}
