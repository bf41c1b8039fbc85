// Package webapp is the exploration web app: a page to upload, watch, search
// and count concepts, served from assets embedded in the binary (no build
// step, no external fonts or scripts: it works offline).
package webapp

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static/index.html static/app.js static/logic.js static/style.css
var static embed.FS

// Prefix is where the assets are served (an underscore cannot start a bucket
// name, so it never shadows a path-style S3 request).
const Prefix = "/_app/"

// Config is what the page learns from /_app/config.json.
type Config struct {
	// API is the API's base URL ("" = the page's own origin).
	API string `json:"api"`
	// Auth, when set, signs users in with an OAuth 2.0 authorization server
	// (the stack's Cognito hosted UI): authorization code + PKCE, the access
	// token sent as a bearer token. Nil: a bearer token typed in (serve
	// --token), or none.
	Auth *Auth `json:"auth,omitempty"`
}

// Auth names the sign-in server and this app's client.
type Auth struct {
	Domain   string `json:"domain"`   // e.g. https://<prefix>.auth.<region>.amazoncognito.com
	ClientID string `json:"clientId"` // a public client (no secret)
	Redirect string `json:"redirect"` // the page's URL, registered as a callback
}

// securityHeaders keep the page to its own origin — scripts, styles, media
// and API calls come from it (and the API and sign-in server it is
// configured with) — and nothing frames it.
func securityHeaders(h http.Header, cfg Config) {
	connect := "'self'"
	for _, u := range []string{cfg.API, authDomain(cfg)} {
		if u != "" {
			connect += " " + u
		}
	}
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "+
		"connect-src "+connect+"; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func authDomain(cfg Config) string {
	if cfg.Auth == nil {
		return ""
	}
	return cfg.Auth.Domain
}

// Handler serves the page at "/" and its assets under Prefix.
func Handler(cfg Config) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder
	}
	files := http.FileServerFS(sub)
	conf, _ := json.Marshal(cfg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		securityHeaders(w.Header(), cfg)
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/index.html":
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, "index.html")
		case name == "config.json":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(conf)
		case strings.HasPrefix(r.URL.Path, Prefix) && name != "" && name != "index.html":
			w.Header().Set("Cache-Control", "no-cache") // small files; a new binary must not meet an old script
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			files.ServeHTTP(w, r2)
		default:
			http.NotFound(w, r)
		}
	})
}

// IsPage reports whether r asks for the page itself rather than the S3
// endpoint that shares "/": a plain GET of "/" (a browser) — S3's ListBuckets
// on "/" is signed, in a header or the query.
func IsPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.URL.Path != "/" && r.URL.Path != "/index.html" {
		return false
	}
	return r.Header.Get("Authorization") == "" && r.URL.Query().Get("X-Amz-Signature") == "" && r.URL.Query().Get("Signature") == ""
}
