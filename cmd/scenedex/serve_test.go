package main

import (
	"bufio"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve --token auto makes a token and prints it; --host names (repeated or
// a comma list) are answered to, others are not; a blank or short --token is
// refused before anything listens. The real CLI in a real process.
func TestServeTokenAutoAndHosts(t *testing.T) {
	addr := freeAddr(t)
	cmd := cli(t, "http://"+addr, "serve", "--addr", addr, "--data", filepath.Join(t.TempDir(), "data"), "--log-level", "warn",
		"--token", "auto", "--host", "a.lan,b.lan", "--host", "c.lan")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	token := ""
	lines := bufio.NewScanner(stderr)
	for token == "" && lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "token: "); ok {
			token, _, _ = strings.Cut(rest, " ")
		}
	}
	go func() {
		for lines.Scan() {
		}
	}()
	if len(token) < 16 {
		t.Fatalf("no token printed (%q)", token)
	}
	get := func(host, auth string) int {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/v1/videos", nil)
			req.Host = host
			req.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	for _, tc := range []struct {
		host, auth string
		want       int
	}{
		{addr, "Bearer " + token, 200},
		{"c.lan:" + port, "bearer " + token, 200},
		{"b.lan:" + port, "Bearer " + token, 200},
		{"evil.example:" + port, "Bearer " + token, 403},
		{addr, "", 401},
	} {
		if got := get(tc.host, tc.auth); got != tc.want {
			t.Errorf("Host %s, Authorization %q: %d, want %d", tc.host, tc.auth, got, tc.want)
		}
	}

	for _, bad := range []string{" ", "short"} {
		srv := cli(t, "", "serve", "--addr", freeAddr(t), "--data", filepath.Join(t.TempDir(), "bad"), "--token", bad)
		var out strings.Builder
		srv.Stdout, srv.Stderr = &out, &out
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		served := time.AfterFunc(30*time.Second, func() { srv.Process.Kill() }) // a server that took the token runs on
		err := srv.Wait()
		served.Stop()
		if err == nil || !strings.Contains(out.String(), "--token") {
			t.Errorf("--token %q: %v %s", bad, err, out.String())
		}
	}
}
