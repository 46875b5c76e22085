// Package serve is mlenv's inference server: it serves loaded models over
// the Open Inference Protocol (KServe v2) on HTTP/JSON, with the binary
// tensor data extension, and on gRPC (inference.GRPCInferenceService), with
// Triton-style dynamic batching per model version, Prometheus metrics and
// graceful shutdown.
//
// A model is anything that implements Model: metadata (name, version,
// signature) and a batched Infer on named tensors. A Repository holds the
// loaded models and versions, checks requests against their signatures,
// queues them in a bounded per-version queue and merges concurrent requests
// into batches; Swap replaces a model's version without dropping requests.
// A Server exposes a Repository on HTTP and gRPC listeners.
//
// See docs/serving.md for the endpoints, the error table and the metrics.
package serve
