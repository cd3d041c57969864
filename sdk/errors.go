package sdk

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrEndOfInput is returned by a finite input's Process once it has emitted
// every record (a jsonl file read to its end). When every input of a pipeline
// has ended and every record is delivered, the host exits 0.
var ErrEndOfInput = io.EOF

// RetryError tells the host the batch (or part of it) may succeed later: a
// destination outage, a 429 or a 5xx. The host retries with jittered backoff,
// waiting at least After when set (Retry-After).
type RetryError struct {
	Err   error
	After time.Duration
	// Indices of request records still to retry; nil means every record not rejected.
	Indices []int
}

func (e *RetryError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
	}
	return e.Err.Error()
}

func (e *RetryError) Unwrap() error { return e.Err }

// Retryable marks err as transient.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &RetryError{Err: err}
}

// RetryAfter marks err as transient with a minimum wait before the next attempt.
func RetryAfter(err error, after time.Duration) error {
	return &RetryError{Err: err, After: after}
}

// IsRetryable reports whether err, or an error it wraps, is a RetryError.
func IsRetryable(err error) bool {
	var re *RetryError
	return errors.As(err, &re)
}

// FieldError points a configuration problem at one argument, so that
// `sentinel validate` can print the file:line:column of that argument.
type FieldError struct {
	Field string // argument name, dotted for nested blocks: "policy.mode"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Fieldf builds a FieldError.
func Fieldf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}
