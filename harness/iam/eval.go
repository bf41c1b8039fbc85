// Package iam decides whether a function's identity-based policy allows a
// request, and stands in front of local stand-in services to refuse what the
// function's role would be refused in AWS (harness/template reads the
// statements from the synthesized stack). It is a test harness: only tests
// import it.
//
// The evaluation follows the IAM User Guide, "Policy evaluation logic" and
// "The difference between explicit and implicit denies"
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html):
// an applicable Deny wins; otherwise an applicable Allow allows; otherwise
// the request is implicitly denied. A statement applies when its Action (or
// NotAction), its Resource (or NotResource) and every condition match
// ("IAM JSON policy elements: Condition operators", and "Multivalued context
// keys" for ForAllValues/ForAnyValue).
package iam

import (
	"strings"

	"github.com/scenedex/scenedex/harness/template"
)

// Request is one authorization request: the action ("service:Operation"),
// the resource's ARN and the request's condition keys (e.g.
// "dynamodb:LeadingKeys", "s3:prefix").
type Request struct {
	Action   string
	Resource string
	Context  map[string][]string
}

// Decision is the outcome of an evaluation.
type Decision int

const (
	ImplicitDeny Decision = iota // no statement allows it
	Allow
	ExplicitDeny // a Deny statement applies
)

func (d Decision) String() string {
	return [...]string{"implicit deny", "allow", "explicit deny"}[d]
}

// Evaluate decides req against an identity's statements.
func Evaluate(policy []template.Statement, req Request) Decision {
	allowed := false
	for _, s := range policy {
		if !applies(s, req) {
			continue
		}
		if s.Effect == "Deny" {
			return ExplicitDeny
		}
		if s.Effect == "Allow" {
			allowed = true
		}
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

func applies(s template.Statement, req Request) bool {
	if len(s.Action) > 0 && !anyMatch(s.Action, req.Action, true) {
		return false
	}
	if len(s.NotAction) > 0 && anyMatch(s.NotAction, req.Action, true) {
		return false
	}
	if len(s.Action) == 0 && len(s.NotAction) == 0 {
		return false
	}
	if len(s.Resource) > 0 && !anyMatch(s.Resource, req.Resource, false) {
		return false
	}
	if len(s.NotResource) > 0 && anyMatch(s.NotResource, req.Resource, false) {
		return false
	}
	for op, keys := range s.Condition {
		for key, values := range keys {
			if !condition(op, values, req.Context[key], hasKey(req.Context, key)) {
				return false
			}
		}
	}
	return true
}

func hasKey(ctx map[string][]string, key string) bool {
	_, ok := ctx[key]
	return ok
}

// anyMatch: one pattern of the list matches v. Actions are matched without
// regard to case, resources with it ("IAM JSON policy elements: Action",
// "Resource": * matches any run of characters, ? any one).
func anyMatch(patterns []string, v string, foldCase bool) bool {
	for _, p := range patterns {
		if wildcard(p, v, foldCase) {
			return true
		}
	}
	return false
}

// wildcard matches IAM's * (any run, '/' included) and ? (any one
// character); nothing else is special.
func wildcard(pattern, v string, foldCase bool) bool {
	if foldCase {
		pattern, v = strings.ToLower(pattern), strings.ToLower(v)
	}
	// Dynamic programming over the two strings: * spans anything.
	p, s := []rune(pattern), []rune(v)
	prev := make([]bool, len(s)+1)
	prev[0] = true
	for i := 1; i <= len(p); i++ {
		cur := make([]bool, len(s)+1)
		cur[0] = prev[0] && p[i-1] == '*'
		for j := 1; j <= len(s); j++ {
			switch p[i-1] {
			case '*':
				cur[j] = prev[j] || cur[j-1]
			case '?':
				cur[j] = prev[j-1]
			default:
				cur[j] = prev[j-1] && p[i-1] == s[j-1]
			}
		}
		prev = cur
	}
	return prev[len(s)]
}

// condition evaluates one operator on one key. values are the policy's
// (any of them may match: OR); got the request's, present tells an absent
// key from an empty one.
func condition(op string, values, got []string, present bool) bool {
	set := ""
	if q, rest, ok := strings.Cut(op, ":"); ok && (q == "ForAllValues" || q == "ForAnyValue") {
		set, op = q, rest
	}
	ifExists := strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	// A negated operator holds when the value matches none of the
	// policy's values.
	negated := strings.Contains(op, "Not")
	positive := strings.Replace(op, "Not", "", 1)
	match := func(v string) bool {
		for _, want := range values {
			if compare(positive, want, v) {
				return !negated
			}
		}
		return negated
	}
	switch set {
	case "ForAllValues":
		// True when every value of the request matches; an absent or
		// empty key makes it true ("Multivalued context keys").
		for _, v := range got {
			if !match(v) {
				return false
			}
		}
		return true
	case "ForAnyValue":
		for _, v := range got {
			if match(v) {
				return true
			}
		}
		return false
	}
	if !present {
		// An absent key: ...IfExists and negated operators hold, others
		// do not ("Condition operators": "...IfExists", and the note on
		// negated matching).
		return ifExists || negated
	}
	for _, v := range got {
		if match(v) {
			return true
		}
	}
	return false
}

// compare applies a positive single-valued operator (String*, Arn*, Bool).
func compare(op, want, v string) bool {
	switch op {
	case "StringEquals", "ArnEquals", "Bool":
		return want == v
	case "StringEqualsIgnoreCase":
		return strings.EqualFold(want, v)
	case "StringLike", "ArnLike":
		return wildcard(want, v, false)
	}
	return false // an operator the harness does not know never matches
}
