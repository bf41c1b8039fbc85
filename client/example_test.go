package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/scenedex/scenedex/client"
)

// Upload a video, wait until it is searchable, and find the moment that shows
// the words. (These examples run in `go test` against a real local server
// that TestMain starts; SCENEDEX_URL points at it.)
func Example() {
	ctx := context.Background()
	c := client.New(os.Getenv("SCENEDEX_URL")) // e.g. http://127.0.0.1:8080

	v, err := c.UploadFile(ctx, "promo.mp4", client.UploadOptions{Collection: "ads", Metadata: map[string]string{"brand": "acme"}})
	if err != nil {
		log.Fatal(err)
	}
	if v, err = c.Wait(ctx, v.ID, 100*time.Millisecond, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Status, v.ChunksTotal, "chunks")

	hits, err := c.Search(ctx, client.Query{Text: "grand opening", Collection: "ads", K: 1})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hits {
		fmt.Printf("%s %.0f-%.0fs %v %q\n", h.Filename, h.Start, h.End, h.Matched, h.Text[0].Text)
	}
	// Output:
	// READY 3 chunks
	// promo.mp4 0-4s [words] "GRAND OPENING TODAY"
}

// Count the scenes of a collection that match each concept.
func ExampleClient_Concepts() {
	ctx := context.Background()
	c := client.New(os.Getenv("SCENEDEX_URL"))
	v, err := c.UploadFile(ctx, "promo.mp4", client.UploadOptions{Collection: "board"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Wait(ctx, v.ID, 100*time.Millisecond, nil); err != nil {
		log.Fatal(err)
	}

	threshold := 0.25
	board, err := c.Concepts(ctx, client.ConceptsRequest{Collection: "board", Threshold: &threshold,
		Concepts: []client.Concept{{Text: "grand opening"}, {Text: "zebra crossing"}}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range board.Concepts {
		fmt.Printf("%s: %d scenes %v\n", r.Label, r.Count, r.ByCollection)
	}
	// Output:
	// grand opening: 1 scenes map[board:1]
	// zebra crossing: 0 scenes map[]
}

// Errors the API answers carry a code.
func ExampleAPIError() {
	c := client.New(os.Getenv("SCENEDEX_URL"))
	_, err := c.Video(context.Background(), "no-such-video")
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code)
	}
	// Output:
	// 404 not_found
}
