// Package onnxpb holds the Go code generated from onnx.proto, the subset of
// the ONNX model format (ModelProto and the messages it holds) that package
// serve reads to serve .onnx files through mlenv's engine.
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
