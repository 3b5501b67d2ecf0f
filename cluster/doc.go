// Package cluster holds what every stage of a node must agree on, defined
// once and handed down: the application name (which names the groups and
// topics), the partitioner (which decides a key's partition, and so its
// owner, on every node), the data directory, the Kafka client
// configuration, the logger and the metrics registerer.
//
// A node (package node) builds one Settings and passes it to the
// processor, the view and the HTTP server; each of them reads it, none
// restates a default.
package cluster
