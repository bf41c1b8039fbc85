package iam

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/scenedex/scenedex/harness/template"
)

// Principal is one function's identity: its own credentials and its role's
// statements.
type Principal struct {
	Name              string
	AccessKey, Secret string
	Policy            []template.Statement
}

// Violation is a call a function made that its policy does not allow.
type Violation struct {
	Function string
	Service  string
	Call     string
	Request  Request
	Decision Decision
}

// Missing is the statement the function's policy would need.
func (v Violation) Missing() string {
	st := template.Statement{Effect: "Allow", Action: []string{v.Request.Action}, Resource: []string{v.Request.Resource}}
	s := st.String()
	if len(v.Request.Context) > 0 {
		ctx, _ := json.Marshal(v.Request.Context)
		s += " (request context " + string(ctx) + ")"
	}
	return s
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s %s: %s is refused (%s); missing statement %s", v.Function, v.Service, v.Call, v.Request.Action,
		v.Decision, v.Missing())
}

// Authorized is a call that was allowed.
type Authorized struct {
	Function, Service, Call string
	Requests                []Request
}

// Guard identifies the calling function of each request by its SigV4
// access key id and refuses, in the service's own protocol (AccessDenied),
// every request its policy does not allow, recording a Violation.
type Guard struct {
	mu         sync.Mutex
	byKey      map[string]Principal
	violations []Violation
	allowed    []Authorized
}

// NewGuard is a guard for these principals.
func NewGuard(principals ...Principal) *Guard {
	g := &Guard{byKey: map[string]Principal{}}
	for _, p := range principals {
		g.byKey[p.AccessKey] = p
	}
	return g
}

// Violations returns what was refused so far.
func (g *Guard) Violations() []Violation {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Violation(nil), g.violations...)
}

// Allowed returns the calls allowed so far.
func (g *Guard) Allowed() []Authorized {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Authorized(nil), g.allowed...)
}

// AccessKey reads the access key id a request is signed with (the
// Authorization header's Credential, or a presigned URL's X-Amz-Credential).
func AccessKey(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); cred == "" && auth != "" {
		_, rest, _ := strings.Cut(auth, "Credential=")
		cred, _, _ = strings.Cut(rest, ",")
	}
	id, _, _ := strings.Cut(cred, "/")
	return id
}

// Wrap puts the guard in front of a stand-in of svc.
func (g *Guard) Wrap(svc Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		key := AccessKey(r)
		g.mu.Lock()
		p, known := g.byKey[key]
		g.mu.Unlock()
		call, reqs, err := svc.derive(r, body)
		if !known {
			v := Violation{Function: "unknown access key " + key, Service: svc.Name, Call: call, Decision: ImplicitDeny}
			if len(reqs) > 0 {
				v.Request = reqs[0]
			}
			g.record(v)
			svc.refuse(w, "The security token included in the request is invalid: access key "+key)
			return
		}
		if err != nil {
			g.record(Violation{Function: p.Name, Service: svc.Name, Call: call + ": " + err.Error(), Decision: ImplicitDeny})
			svc.refuse(w, err.Error())
			return
		}
		for _, req := range reqs {
			if d := Evaluate(p.Policy, req); d != Allow {
				g.record(Violation{Function: p.Name, Service: svc.Name, Call: call, Request: req, Decision: d})
				svc.refuse(w, fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/%s/%s is not authorized to perform: %s on resource: %s because %s",
					template.Account, p.Name, p.Name, req.Action, req.Resource, reason(d, req.Action)))
				return
			}
		}
		g.mu.Lock()
		g.allowed = append(g.allowed, Authorized{Function: p.Name, Service: svc.Name, Call: call, Requests: reqs})
		g.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func reason(d Decision, action string) string {
	if d == ExplicitDeny {
		return "an explicit deny in an identity-based policy"
	}
	return "no identity-based policy allows the " + action + " action"
}

func (g *Guard) record(v Violation) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.violations = append(g.violations, v)
}
