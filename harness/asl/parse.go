package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
)

type stateMachine struct {
	StartAt        string
	States         map[string]*state
	TimeoutSeconds int
	Comment        string
	QueryLanguage  string
}

type state struct {
	Type, Comment, Next, Resource string
	End                           bool
	InputPath, OutputPath         *string // "" stands for JSON null
	ResultPath                    *string
	Parameters, ResultSelector    any
	ItemSelector, Result          any
	ItemsPath                     *string
	MaxConcurrency                int
	ItemProcessor, Iterator       *stateMachine
	TimeoutSeconds                *int
	HeartbeatSeconds              *int
	Retry                         []*retrier
	Catch                         []*catcher
	Choices                       []*rule
	Default                       string
	Error, Cause                  string
}

type retrier struct {
	ErrorEquals     []string
	IntervalSeconds *float64
	MaxAttempts     *int
	BackoffRate     *float64
	MaxDelaySeconds *float64
	JitterStrategy  string
}

type catcher struct {
	ErrorEquals []string
	Next        string
	ResultPath  *string
}

// UnmarshalJSON keeps the difference between a missing path field (nil: the
// default "$") and an explicit null ("": discard), which the spec gives
// different meanings.
func (s *state) UnmarshalJSON(b []byte) error {
	type plain state
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for name, dst := range map[string]**string{"InputPath": &s.InputPath, "OutputPath": &s.OutputPath, "ResultPath": &s.ResultPath} {
		if v, ok := raw[name]; ok && bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			empty := ""
			*dst = &empty
		}
	}
	return nil
}

func (c *catcher) UnmarshalJSON(b []byte) error {
	type plain catcher
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	json.Unmarshal(b, &raw)
	if v, ok := raw["ResultPath"]; ok && bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		empty := ""
		c.ResultPath = &empty
	}
	return nil
}

var known = map[string]bool{"Task": true, "Map": true, "Choice": true, "Pass": true, "Succeed": true, "Fail": true}

func parse(def string) (*stateMachine, error) {
	var m stateMachine
	if err := json.Unmarshal([]byte(def), &m); err != nil {
		return nil, fmt.Errorf("definition is not valid JSON: %w", err)
	}
	if m.QueryLanguage != "" && m.QueryLanguage != "JSONPath" {
		return nil, fmt.Errorf("QueryLanguage %s is not supported", m.QueryLanguage)
	}
	return &m, m.check("")
}

// check refuses what this interpreter would run wrongly, and transitions to
// states that do not exist ("a state machine MUST ... have a state named by
// StartAt"; "Next ... MUST exactly match the name of another state", spec).
func (m *stateMachine) check(in string) error {
	if m.States[m.StartAt] == nil {
		return fmt.Errorf("%sStartAt %q names no state", in, m.StartAt)
	}
	for name, s := range m.States {
		if !known[s.Type] {
			return fmt.Errorf("%sstate %q: type %q is not supported by this interpreter", in, name, s.Type)
		}
		targets := []string{s.Next, s.Default}
		for _, c := range s.Catch {
			targets = append(targets, c.Next)
		}
		for _, c := range s.Choices {
			targets = append(targets, c.Next)
		}
		for _, t := range targets {
			if t != "" && m.States[t] == nil {
				return fmt.Errorf("%sstate %q: transition to %q, which does not exist", in, name, t)
			}
		}
		if (s.Type == "Task" || s.Type == "Pass" || s.Type == "Map") && s.Next == "" && !s.End {
			return fmt.Errorf("%sstate %q has neither Next nor End", in, name)
		}
		if s.TimeoutSeconds != nil && s.HeartbeatSeconds != nil && *s.HeartbeatSeconds >= *s.TimeoutSeconds {
			return fmt.Errorf("%sstate %q: HeartbeatSeconds must be smaller than TimeoutSeconds", in, name)
		}
		if s.Type == "Map" {
			p := s.ItemProcessor
			if p == nil {
				p = s.Iterator
			}
			if p == nil {
				return fmt.Errorf("%sMap %q has no ItemProcessor", in, name)
			}
			if err := p.check(in + name + "/"); err != nil {
				return err
			}
		}
	}
	return nil
}
