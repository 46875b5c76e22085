// Package distributed holds the loopback benchmarks of mlenv's collective
// communication: the all-reduce between worker processes started by the
// local executor, on the TCP ring and through the shared-memory transport,
// against a plain TCP stream copy between two processes on the same
// machine, one-way and in both directions at once, in bandwidth and in CPU
// time per byte. See README.md; run with
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/distributed
package distributed
