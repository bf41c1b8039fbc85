package webapp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scenedex/scenedex/internal/local"
	"github.com/scenedex/scenedex/internal/webapp"
)

// authServer stands in for Cognito's hosted UI and token endpoint (they
// cannot run here): it checks the requests as an OAuth 2.0 server with PKCE
// does, and issues the token the API wants.
type authServer struct {
	t         *testing.T
	redirect  string
	token     string
	mu        sync.Mutex
	challenge map[string]string // code -> code_challenge
	exchanged int
}

func (a *authServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth2/authorize":
		q := r.URL.Query()
		if q.Get("response_type") != "code" || q.Get("client_id") != "web-app" || q.Get("redirect_uri") != a.redirect ||
			q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
			a.t.Errorf("authorize request %v", q)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.challenge["c0de"] = q.Get("code_challenge")
		a.mu.Unlock()
		http.Redirect(w, r, a.redirect+"?code=c0de&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	case "/oauth2/token":
		w.Header().Set("Access-Control-Allow-Origin", strings.TrimSuffix(a.redirect, "/"))
		r.ParseForm()
		a.mu.Lock()
		want, ok := a.challenge[r.PostForm.Get("code")]
		delete(a.challenge, r.PostForm.Get("code"))
		a.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("client_id") != "web-app" ||
			r.PostForm.Get("redirect_uri") != a.redirect || base64.RawURLEncoding.EncodeToString(sum[:]) != want {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		a.mu.Lock()
		a.exchanged++
		a.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": a.token, "id_token": "id", "token_type": "Bearer", "expires_in": 3600})
	default:
		http.NotFound(w, r)
	}
}

// The cloud's sign-in as the page does it: no token, so it offers to sign
// in; the hosted UI sends back a code, which the page trades (with its PKCE
// verifier) for the access token the API then takes as a bearer token.
func TestBrowserSignIn(t *testing.T) {
	const token = "token-from-the-user-pool"
	app, err := local.Start(context.Background(), local.Config{Addr: "127.0.0.1:0", Data: filepath.Join(t.TempDir(), "data"), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	auth := &authServer{t: t, token: token, challenge: map[string]string{}}
	idp := httptest.NewServer(auth)
	t.Cleanup(idp.Close)

	// The page on its own origin with the API behind it (as CloudFront and
	// API Gateway are two origins, CORS aside).
	apiURL, _ := url.Parse(app.URL)
	mux := http.NewServeMux()
	// The proxy stands in for API Gateway, which answers to its own name and
	// takes the page's cross-origin calls (CORS): it addresses the local
	// server by its own name and leaves the page's origin behind, as the
	// local server refuses changes from other origins (package origin).
	mux.Handle("/v1/", &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(apiURL)
		r.Out.Header.Del("Origin")
		r.Out.Header.Del("Sec-Fetch-Site")
	}})
	page := httptest.NewUnstartedServer(mux)
	page.Start()
	t.Cleanup(page.Close)
	auth.redirect = page.URL + "/"
	h := webapp.Handler(webapp.Config{Auth: &webapp.Auth{Domain: idp.URL, ClientID: "web-app", Redirect: auth.redirect}})
	mux.Handle("/", h)

	ctx := browser(t)
	// An answer that this tab did not ask for is refused.
	do(t, ctx, "forged answer", chromedp.Navigate(page.URL+"/?code=c0de&state=forged"))
	if note := poll[string](t, ctx, "forged refused", 10*time.Second, `document.querySelector("#status").textContent`); !strings.Contains(note, "does not belong to this tab") {
		t.Errorf("forged answer: %q", note)
	}
	poll[bool](t, ctx, "sign-in offered", 10*time.Second, `!document.querySelector("#signin-cloud").hidden && document.querySelector("#signout").hidden`)
	if got := eval[string](t, ctx, `location.search`); got != "" {
		t.Errorf("the code stays in the address bar: %q", got)
	}

	do(t, ctx, "sign in", chromedp.Click(chromedp.CSS("#signin-go")))
	// The page leaves for the sign-in server and comes back: evaluate until
	// the page that answers is the signed-in one.
	signedIn := `location.origin + "/" === ` + jsString(auth.redirect) + ` && !document.querySelector("#videos-empty").hidden && !document.querySelector("#signout").hidden`
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](signedIn)); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not signed in (page says %q)", pageNote(ctx))
		}
	}
	auth.mu.Lock()
	if auth.exchanged != 1 {
		t.Errorf("%d code exchanges", auth.exchanged)
	}
	auth.mu.Unlock()
	if got := eval[string](t, ctx, `location.search + "|" + sessionStorage.getItem("scenedex-token") + "|" + document.querySelector("#status").textContent`); got != "|"+token+"|" {
		t.Errorf("after sign-in: %q", got)
	}
	screenshot(t, ctx, "6-signed-in")
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
