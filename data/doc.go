// Package data is mlenv's input pipeline: it reads training data and turns
// it into the batches a trainer consumes, and it holds the fitted feature
// preprocessing that serving applies to single requests.
//
// The stages, each usable on its own:
//
//   - A RowSource streams raw Records; Source reads Parquet, CSV or IDX
//     files (globs, gzip), yielding a *RowError for a malformed row that a
//     caller may skip.
//   - Fit reads a training split once and fits Transforms: normalisation
//     statistics, quantile buckets, vocabularies. Transforms marshal to
//     JSON for the model artifact; Apply and ApplyBatch encode serving
//     inputs exactly as the training path does.
//   - A Loader encodes, shards (rank of workers), shuffles (a seeded
//     buffer), batches into columnar Batches and prefetches them on a
//     background goroutine, one pass per epoch, optionally from memory.
//   - WriteSynthetic writes a click-through data set with a known
//     Bayes-optimal AUC; Inspect describes a data file.
//
// The package depends on no engine package: a Batch is plain Go slices
// that the trainer wraps into tensors. docs/data.md documents the formats
// and the exact transforms.
package data
