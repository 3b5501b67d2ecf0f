// Package eventfoldtest is the public test harness of eventfold: in-process
// Kafka clusters (kfake, several brokers), test-tuned client settings, and
// polling waits. Tests of eventfold itself and of applications built on it
// use the same harness.
package eventfoldtest
