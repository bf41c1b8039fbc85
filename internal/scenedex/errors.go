package scenedex

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// Code classifies an error for callers: the HTTP API maps it to a status, the
// workflow decides from it whether a retry can help.
type Code string

const (
	CodeInvalid         Code = "invalid_argument" // bad input from the caller: 400
	CodeNotFound        Code = "not_found"        // 404
	CodeUnauthenticated Code = "unauthenticated"  // 401
	CodeForbidden       Code = "forbidden"        // 403: not this server's name, or a cross-site change
	CodeConflict        Code = "conflict"         // 409
	CodeTooLarge        Code = "too_large"        // 413
	CodeUnsupported     Code = "unsupported"      // the configured model cannot do this: 400
	CodeNotVideo        Code = "not_a_video"      // the object is not a usable video: permanent
	CodeUnavailable     Code = "unavailable"      // a dependency is down or throttling: retry
	CodeInternal        Code = "internal"         // 500
)

// Error is a domain error with a code and a message meant for users.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a domain error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a code and message to a cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first domain error in err's chain, or
// CodeInternal. A full disk anywhere in the chain is CodeUnavailable: never
// the caller's input, and retrying once space is freed can help.
func ErrorCode(err error) Code {
	if errors.Is(err, syscall.ENOSPC) {
		return CodeUnavailable
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Permanent reports whether retrying the step that returned err cannot help.
func Permanent(err error) bool {
	switch ErrorCode(err) {
	case CodeInvalid, CodeNotFound, CodeNotVideo, CodeUnsupported, CodeTooLarge:
		return true
	}
	return false
}

// ChunkID is the document id of chunk i of a video: "<video>:<chunk>".
func ChunkID(videoID string, i int) string { return videoID + ":" + strconv.Itoa(i) }

// Message is the user-facing text of err: the messages of the domain errors in
// its chain, without the plumbing around them (but a full disk is named).
// Errors with no domain error keep their own text.
func Message(err error) string {
	var parts []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		if de, ok := e.(*Error); ok {
			parts = append(parts, de.Message)
		}
	}
	if len(parts) == 0 {
		return err.Error()
	}
	if errors.Is(err, syscall.ENOSPC) {
		parts = append(parts, "no space left on device")
	}
	return strings.Join(parts, ": ")
}
