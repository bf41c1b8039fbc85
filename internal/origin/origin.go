// Package origin keeps the local server to its own origin: it answers only
// requests addressed to it by one of its own names (the Host header), so a
// web page whose name is made to resolve to 127.0.0.1 (DNS rebinding) gets
// nothing, and it refuses changes sent by a browser from another site
// (Origin, Sec-Fetch-Site), so a page cannot make the browser of someone
// using the server delete their videos.
package origin

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Guard decides which Host names and origins a server listening on one
// address accepts.
type Guard struct {
	port     string
	ip       net.IP // the listen address's IP; unspecified = every address of the machine
	names    map[string]bool
	loopback bool // "localhost" names this server too
}

// New is the guard of a server listening on addr; names are further host
// names (without port, or with the listen port) it is reached by, such as
// a LAN name or a reverse proxy's (serve --host).
func New(addr *net.TCPAddr, names []string) (*Guard, error) {
	g := &Guard{port: strconv.Itoa(addr.Port), ip: addr.IP, names: map[string]bool{},
		loopback: addr.IP.IsLoopback() || addr.IP.IsUnspecified()}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		host, port, err := net.SplitHostPort(n)
		if err != nil {
			host, port = strings.Trim(n, "[]"), g.port
		}
		if port != g.port || host == "" || strings.ContainsAny(host, "/ ") {
			return nil, fmt.Errorf("--host %q: give a host name (optionally with this server's port %s)", n, g.port)
		}
		g.names[host] = true
	}
	return g, nil
}

// HostAllowed reports whether host (a Host header: name or IP, with the
// port) names this server. IP literals cannot be rebound by DNS: an IP of
// the listen address (any, when it listens on every address) is accepted;
// names must be localhost (on loopback) or given to New.
func (g *Guard) HostAllowed(host string) bool {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.Trim(host, "[]"), "80"
	}
	if port != g.port {
		return false
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if ip := net.ParseIP(name); ip != nil {
		switch {
		case g.ip.IsUnspecified():
			return true
		case g.ip.IsLoopback():
			return ip.IsLoopback()
		default:
			return ip.Equal(g.ip)
		}
	}
	return g.names[name] || (g.loopback && name == "localhost")
}

// Wrap lets through requests whose Host names this server and, for methods
// that change state, that no browser sent from another site; others get 403
// with the reason.
func (g *Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.check(r); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (g *Guard) check(r *http.Request) error {
	if !g.HostAllowed(r.Host) {
		return scenedex.Errorf(scenedex.CodeForbidden, "this server does not answer to the name %q; "+
			"use the address it listens on, or start it with --host NAME to add a name", r.Host)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	// Fetch Metadata (https://www.w3.org/TR/fetch-metadata/): browsers
	// send Sec-Fetch-Site on every request; "same-origin" is our own web
	// app, "none" a user's own action (typed URL, bookmark). Tools that are
	// not browsers send neither header.
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return scenedex.Errorf(scenedex.CodeForbidden, "refused a %s sent by a web page of another site (Sec-Fetch-Site: %s)", r.Method, site)
	}
	// Origin (RFC 6454 section 7) is sent by browsers on cross-origin
	// requests and on every POST, PUT, DELETE: it must be this server.
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || o == "null" || u.Host != r.Host {
			return scenedex.Errorf(scenedex.CodeForbidden, "refused a %s sent by a web page of another origin (Origin: %s)", r.Method, o)
		}
	}
	return nil
}
