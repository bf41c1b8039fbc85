package origin

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHostAllowed(t *testing.T) {
	loop, err := New(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, []string{"scenedex.lan", "Proxy.Example:8080"})
	if err != nil {
		t.Fatal(err)
	}
	all, err := New(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lan, err := New(&net.TCPAddr{IP: net.IPv4(192, 168, 1, 5), Port: 8080}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		g    *Guard
		host string
		want bool
	}{
		{loop, "127.0.0.1:8080", true},
		{loop, "localhost:8080", true},
		{loop, "LOCALHOST.:8080", true},
		{loop, "[::1]:8080", true},
		{loop, "scenedex.lan:8080", true},
		{loop, "proxy.example:8080", true},
		{loop, "attacker.example:8080", false}, // DNS rebinding: a name that resolves to 127.0.0.1
		{loop, "127.0.0.1:9090", false},
		{loop, "127.0.0.1", false},
		{loop, "192.168.1.5:8080", false},
		{loop, "", false},
		{all, "192.168.1.5:8080", true}, // an IP literal cannot be rebound
		{all, "localhost:8080", true},
		{all, "attacker.example:8080", false},
		{lan, "192.168.1.5:8080", true},
		{lan, "127.0.0.1:8080", false},
		{lan, "localhost:8080", false},
	} {
		if got := tc.g.HostAllowed(tc.host); got != tc.want {
			t.Errorf("%v: HostAllowed(%q) = %v, want %v", tc.g.ip, tc.host, got, tc.want)
		}
	}
	if _, err := New(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, []string{"other:9999"}); err == nil {
		t.Error("a --host with another port was taken")
	}
}

func TestCrossSiteChangesRefused(t *testing.T) {
	g, err := New(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for _, tc := range []struct {
		name, method, host string
		header             map[string]string
		want               int
	}{
		{"own page", "DELETE", "127.0.0.1:8080", map[string]string{"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"}, 204},
		{"a tool (curl, SDK)", "DELETE", "127.0.0.1:8080", nil, 204},
		{"typed by the user", "POST", "localhost:8080", map[string]string{"Sec-Fetch-Site": "none"}, 204},
		{"other site", "DELETE", "127.0.0.1:8080", map[string]string{"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"other origin, no fetch metadata", "POST", "127.0.0.1:8080", map[string]string{"Origin": "http://localhost:8080"}, 403},
		{"opaque origin", "PUT", "127.0.0.1:8080", map[string]string{"Origin": "null"}, 403},
		{"same site other port", "POST", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"cross-site read is not a change", "GET", "127.0.0.1:8080", map[string]string{"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}, 204},
		{"rebound name", "GET", "attacker.example:8080", nil, 403},
	} {
		r := httptest.NewRequest(tc.method, "http://"+tc.host+"/v1/videos/x", nil)
		r.Host = tc.host
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, w.Code, tc.want, w.Body)
		}
	}
}
