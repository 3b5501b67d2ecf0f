// Package node assembles one eventfold node: a processor folding the entity
// types, the ownership map read from Kafka, the HTTP API (package
// interactive) and /metrics, with one Run(ctx) that stops them all.
// cmd/eventfold and the test harness (package eventfoldtest) both build
// nodes with it.
package node
