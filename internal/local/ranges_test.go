package local

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// A k or limit given out of range is refused 400 with the range, instead of
// silently becoming the default (issue 16: k: 0 and limit=0 did).
func TestOutOfRangeKAndLimit(t *testing.T) {
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	call := func(method, path, body string) (int, httpapi.ErrorBody) {
		t.Helper()
		req, _ := http.NewRequest(method, app.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e httpapi.ErrorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	like := `"like": {"video_id": "nope", "t": 1}`
	for _, tc := range []struct {
		method, path, body, says string
	}{
		{"POST", "/v1/search", `{` + like + `, "k": 0}`, "k must be between 1 and 100"},
		{"POST", "/v1/search", `{` + like + `, "k": -3}`, "k must be between 1 and 100"},
		{"POST", "/v1/search", `{` + like + `, "k": 101}`, "k must be between 1 and 100"},
		{"GET", "/v1/videos?limit=0", "", "limit must be a number between 1 and 1000"},
		{"GET", "/v1/videos?limit=-1", "", "limit must be a number between 1 and 1000"},
		{"GET", "/v1/videos?limit=1001", "", "limit must be a number between 1 and 1000"},
		{"GET", "/v1/videos?limit=ten", "", "limit must be a number between 1 and 1000"},
	} {
		status, e := call(tc.method, tc.path, tc.body)
		if status != 400 || e.Error.Code != scenedex.CodeInvalid || !strings.Contains(e.Error.Message, tc.says) {
			t.Errorf("%s %s %s: %d %+v; want 400 saying %q", tc.method, tc.path, tc.body, status, e.Error, tc.says)
		}
	}
	// In range, or left out: answered as before.
	if status, e := call("POST", "/v1/search", `{`+like+`, "k": 5}`); status != 404 {
		t.Errorf("k 5: %d %+v", status, e)
	}
	if status, e := call("POST", "/v1/search", `{`+like+`}`); status != 404 {
		t.Errorf("no k: %d %+v", status, e)
	}
	if status, e := call("GET", "/v1/videos?limit=1", ""); status != 200 {
		t.Errorf("limit 1: %d %+v", status, e)
	}
}
