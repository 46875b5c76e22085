// Package inferencepb holds the Go code generated from grpc_predict_v2.proto,
// the Open Inference Protocol (KServe v2) gRPC service
// inference.GRPCInferenceService. Package serve implements the service.
package inferencepb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grpc_predict_v2.proto
