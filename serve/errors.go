package serve

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
)

// Errors returned by Repository.Infer and the protocol handlers. Returned
// errors wrap one of these (or a context error) with details; test with
// errors.Is.
var (
	// ErrModelNotFound means no loaded model has the requested name and
	// version (HTTP 404, gRPC NOT_FOUND).
	ErrModelNotFound = errors.New("model not found")
	// ErrBadRequest means the request is malformed or does not fit the
	// model's signature (HTTP 400, gRPC INVALID_ARGUMENT).
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge means the request body exceeds the configured limit
	// (HTTP 413, gRPC RESOURCE_EXHAUSTED).
	ErrTooLarge = errors.New("request too large")
	// ErrQueueFull means the model's batching queue is full; the request
	// is rejected at once rather than queued (HTTP 429, gRPC
	// RESOURCE_EXHAUSTED).
	ErrQueueFull = errors.New("queue full")
	// ErrUnavailable means the model version is unloading or the server is
	// shutting down (HTTP 503, gRPC UNAVAILABLE).
	ErrUnavailable = errors.New("unavailable")
	// ErrModelFailed means the model returned an error, panicked or
	// returned outputs that break its signature (HTTP 500, gRPC INTERNAL).
	ErrModelFailed = errors.New("model failed")
)

// errorCodes maps each error class to its HTTP status and gRPC code; the
// first entry that matches with errors.Is wins.
var errorCodes = []struct {
	err  error
	http int
	grpc codes.Code
}{
	{ErrModelNotFound, http.StatusNotFound, codes.NotFound},
	{ErrBadRequest, http.StatusBadRequest, codes.InvalidArgument},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, codes.ResourceExhausted},
	{ErrQueueFull, http.StatusTooManyRequests, codes.ResourceExhausted},
	{ErrUnavailable, http.StatusServiceUnavailable, codes.Unavailable},
	{ErrModelFailed, http.StatusInternalServerError, codes.Internal},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, codes.DeadlineExceeded},
	{context.Canceled, 499, codes.Canceled}, // 499: client closed request (nginx convention)
}

// errorStatus returns the HTTP status and gRPC code for err; unknown errors
// are internal.
func errorStatus(err error) (int, codes.Code) {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.http, c.grpc
		}
	}
	return http.StatusInternalServerError, codes.Internal
}
