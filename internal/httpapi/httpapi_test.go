package httpapi

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The OpenAPI file documents every route the handler serves.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	spec, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("httpapi.go")
	if err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile(`HandleFunc\("(GET|POST|DELETE) (/[^"]*)"`).FindAllStringSubmatch(string(src), -1)
	if len(routes) < 7 {
		t.Fatalf("found %d routes in httpapi.go", len(routes))
	}
	for _, r := range routes {
		method, path := strings.ToLower(r[1]), r[2]
		i := strings.Index(string(spec), "\n  "+path+":\n")
		if i < 0 {
			t.Errorf("%s is not in docs/openapi.yaml", path)
			continue
		}
		rest := string(spec)[i+len(path)+4:]
		if j := regexp.MustCompile(`\n  /`).FindStringIndex(rest); j != nil {
			rest = rest[:j[0]]
		}
		if !strings.Contains(rest, "\n    "+method+":") {
			t.Errorf("%s %s is not in docs/openapi.yaml", r[1], path)
		}
	}
}
