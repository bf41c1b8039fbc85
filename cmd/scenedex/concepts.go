package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/scenedex/scenedex/internal/pipeline"
)

// files is a repeatable flag of file names.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func concepts(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("concepts", flag.ContinueOnError)
	var images files
	fs.Var(&images, "image", "an example image (JPEG or PNG) as a concept; repeat for more")
	threshold := fs.Float64("threshold", pipeline.DefaultThreshold, "cosine a scene's picture must reach to count")
	best := fs.Int("best", 3, "best scenes shown per concept")
	collection := fs.String("collection", "", "only this collection")
	asJSON := fs.Bool("json", false, "print JSON")
	asCSV := fs.Bool("csv", false, "print CSV: one row per concept and collection")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	req := pipeline.ConceptsRequest{Threshold: threshold, Best: *best, Collection: *collection}
	for _, t := range pos {
		req.Concepts = append(req.Concepts, pipeline.Concept{Text: t})
	}
	for _, path := range images {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		req.Concepts = append(req.Concepts, pipeline.Concept{Image: b, Label: filepath.Base(path)})
	}
	if len(req.Concepts) == 0 {
		return usageError{`give concepts: words ("crowd celebrating") and/or --image FILE`}
	}
	res, err := apiClient().Concepts(ctx, req)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return printJSON(res)
	case *asCSV:
		return conceptsCSV(os.Stdout, res)
	}
	printConcepts(os.Stdout, res)
	return nil
}

// conceptsCSV writes one row per concept and collection, and a row with
// collection "*" for the concept's total.
func conceptsCSV(w io.Writer, res pipeline.ConceptsResponse) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"concept", "kind", "collection", "count", "capped", "threshold"})
	th := strconv.FormatFloat(res.Threshold, 'f', -1, 64)
	for _, c := range res.Concepts {
		capped := strconv.FormatBool(c.Capped)
		cw.Write([]string{c.Label, c.Kind, "*", strconv.Itoa(c.Count), capped, th})
		for _, col := range sortedKeys(c.ByCollection) {
			cw.Write([]string{c.Label, c.Kind, col, strconv.Itoa(c.ByCollection[col]), capped, th})
		}
	}
	cw.Flush()
	return cw.Error()
}

func printConcepts(w io.Writer, res pipeline.ConceptsResponse) {
	fmt.Fprintf(w, "scenes matching each concept (threshold %.2f)\n", res.Threshold)
	for _, c := range res.Concepts {
		count := strconv.Itoa(c.Count)
		if c.Capped {
			count = "≥" + count
		}
		fmt.Fprintf(w, "\n%s  %s scenes (picture %d, words %d)\n", c.Label, count, c.ByPicture, c.ByWords)
		if c.Note != "" {
			fmt.Fprintf(w, "  (%s)\n", c.Note)
		}
		for _, col := range sortedKeys(c.ByCollection) {
			fmt.Fprintf(w, "  %-20s %d\n", col, c.ByCollection[col])
		}
		printHits(w, c.Best)
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
