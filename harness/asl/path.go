package asl

import (
	"fmt"
	"strconv"
	"strings"
)

// A path step: a field name, an array index, or [*].
type step struct {
	field string
	index int
	all   bool
	isIdx bool
}

// parsePath reads the JSONPath subset the States Language uses: "$", ".name",
// "['name']", "[n]" and "[*]". The spec: "a Path is a string, beginning with
// '$', used to identify components with a JSON text" and "a Reference Path is
// a Path with syntax limited in such a way that it can only identify a single
// node" (states-language.net/spec.html, "Paths"); "$$" starts a path into the
// context object.
func parsePath(p string) (steps []step, context bool, err error) {
	rest := p
	switch {
	case strings.HasPrefix(rest, "$$"):
		context, rest = true, rest[2:]
	case strings.HasPrefix(rest, "$"):
		rest = rest[1:]
	default:
		return nil, false, fmt.Errorf("path %q does not start with $", p)
	}
	for rest != "" {
		switch {
		case rest[0] == '.':
			rest = rest[1:]
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			if n == 0 {
				return nil, false, fmt.Errorf("path %q: empty field name", p)
			}
			steps, rest = append(steps, step{field: rest[:n]}), rest[n:]
		case strings.HasPrefix(rest, "[*]"):
			steps, rest = append(steps, step{all: true}), rest[3:]
		case strings.HasPrefix(rest, "['"):
			end := strings.Index(rest, "']")
			if end < 0 {
				return nil, false, fmt.Errorf("path %q: unclosed ['", p)
			}
			steps, rest = append(steps, step{field: rest[2:end]}), rest[end+2:]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, false, fmt.Errorf("path %q: unclosed [", p)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil {
				return nil, false, fmt.Errorf("path %q: index %q", p, rest[1:end])
			}
			steps, rest = append(steps, step{index: i, isIdx: true}), rest[end+1:]
		default:
			return nil, false, fmt.Errorf("path %q: unexpected %q", p, rest)
		}
	}
	return steps, context, nil
}

// get evaluates a path against data (or ctx for "$$").
func get(p string, data, ctx any) (any, error) {
	steps, isCtx, err := parsePath(p)
	if err != nil {
		return nil, err
	}
	if isCtx {
		data = ctx
	}
	return walk(p, steps, data)
}

func walk(p string, steps []step, v any) (any, error) {
	for i, s := range steps {
		switch {
		case s.all:
			a, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("path %q: [*] on a non-array", p)
			}
			out := make([]any, 0, len(a))
			for _, el := range a {
				r, err := walk(p, steps[i+1:], el)
				if err != nil {
					return nil, err
				}
				out = append(out, r)
			}
			return out, nil
		case s.isIdx:
			a, ok := v.([]any)
			if !ok || s.index < 0 || s.index >= len(a) {
				return nil, fmt.Errorf("path %q: no element %d", p, s.index)
			}
			v = a[s.index]
		default:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("path %q: field %q of a non-object", p, s.field)
			}
			if v, ok = m[s.field]; !ok {
				return nil, fmt.Errorf("path %q: no field %q", p, s.field)
			}
		}
	}
	return v, nil
}

// set places value at a reference path inside data, making the objects on
// the way, and returns the result. The spec on ResultPath: "the value of
// ResultPath MUST be a Reference Path, which specifies the raw input's
// combination with or replacement by the state's result"; "$" replaces the
// input with the result. Input is copied, not changed in place.
func set(p string, data, value any) (any, error) {
	steps, isCtx, err := parsePath(p)
	if err != nil || isCtx {
		return nil, fmt.Errorf("ResultPath %q is not a reference path", p)
	}
	if len(steps) == 0 {
		return value, nil
	}
	return setIn(p, steps, data, value)
}

func setIn(p string, steps []step, data, value any) (any, error) {
	s := steps[0]
	if s.all || s.isIdx {
		return nil, fmt.Errorf("ResultPath %q: only field names are supported", p)
	}
	m, ok := data.(map[string]any)
	if !ok {
		if data != nil {
			return nil, fmt.Errorf("ResultPath %q: field %q of a non-object", p, s.field)
		}
		m = map[string]any{}
	}
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	if len(steps) == 1 {
		out[s.field] = value
		return out, nil
	}
	inner, err := setIn(p, steps[1:], m[s.field], value)
	if err != nil {
		return nil, err
	}
	out[s.field] = inner
	return out, nil
}

// payload evaluates a Payload Template (Parameters, ItemSelector,
// ResultSelector): "a field whose name ends with '.$' has a value that is a
// Path ... the field is renamed without the '.$' and its value is the path's
// result" (spec, "Payload Template"). Nested objects and arrays are walked.
func payload(tpl, data, ctx any) (any, error) {
	switch t := tpl.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, v := range t {
			if name, ok := strings.CutSuffix(k, ".$"); ok {
				ps, _ := v.(string)
				if strings.HasPrefix(ps, "States.") {
					return nil, fmt.Errorf("field %q: intrinsic functions are not supported by this interpreter: %s", k, ps)
				}
				r, err := get(ps, data, ctx)
				if err != nil {
					return nil, fmt.Errorf("field %q: %w", k, err)
				}
				out[name] = r
				continue
			}
			r, err := payload(v, data, ctx)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, v := range t {
			r, err := payload(v, data, ctx)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return tpl, nil
	}
}
