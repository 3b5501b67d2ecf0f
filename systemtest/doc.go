// Package systemtest checks eventfold's claims against Apache Kafka itself,
// with real processes where a crash matters (kill -9 of a node, of a
// broker). `make test-kafka` (systemtest/run.sh) starts a 3-broker KRaft
// cluster on loopback and sets EVENTFOLD_SYSTEMTEST_BROKERS; without it
// every test skips (and run.sh fails a run in which any test skipped).
// TestKafkaSecurity starts a 1-node cluster of its own with a SASL_SSL
// listener (`kafka-local.sh start --sasl-ssl`) and stops it when done.
//
// The results are checked by systemtest/checker, which shares no code with
// eventfold: it folds the events topics itself and compares them with the
// writes the load generators were acknowledged and with what the nodes
// serve. EVENTFOLD_SYSTEMTEST_SEED repeats a run's random fault schedule
// (each test logs its seed).
package systemtest
