package store

import (
	"errors"
	"fmt"
)

// Code is an MLflow error code, such as RESOURCE_DOES_NOT_EXIST. The HTTP
// layer maps each code to a status.
type Code string

// The MLflow error codes the store and the HTTP layer produce.
const (
	InternalError          Code = "INTERNAL_ERROR"
	InvalidParameterValue  Code = "INVALID_PARAMETER_VALUE"
	ResourceDoesNotExist   Code = "RESOURCE_DOES_NOT_EXIST"
	ResourceAlreadyExists  Code = "RESOURCE_ALREADY_EXISTS"
	InvalidState           Code = "INVALID_STATE"
	BadRequest             Code = "BAD_REQUEST"
	EndpointNotFound       Code = "ENDPOINT_NOT_FOUND"
	TemporarilyUnavailable Code = "TEMPORARILY_UNAVAILABLE"
	NotImplemented         Code = "NOT_IMPLEMENTED"
	RequestLimitExceeded   Code = "REQUEST_LIMIT_EXCEEDED"
)

// Error is an error with an MLflow error code. Store methods return it for
// every failure a client can cause; other errors are internal.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the MLflow code of err: the code of the first *Error in
// its chain, or InternalError.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return InternalError
}

// IsNotFound reports whether err says a resource does not exist.
func IsNotFound(err error) bool { return CodeOf(err) == ResourceDoesNotExist }
