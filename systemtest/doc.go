// Package systemtest checks eventfold's claims against Apache Kafka itself,
// with real processes where a crash matters (kill -9 of a node, of a
// broker). It runs only when EVENTFOLD_SYSTEMTEST_BROKERS is set; `make
// test-kafka` (systemtest/run.sh) starts a 3-broker KRaft cluster on
// loopback and sets it.
package systemtest
