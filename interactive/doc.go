// Package interactive serves entity state over HTTP from any node: stage 2
// of eventfold, after package processor has folded the events.
//
//	GET /v1/{entity}/{id} ──► partition = hash(id) mod N
//	       │ this node owns it ──► local table
//	       │ another node does ──► forward once (Eventfold-Hop header) to the owner
//	       └ no owner answers within the deadline ──► hot-standby copy (Eventfold-Stale) or 503
//
// Who owns what comes from Kafka alone: each node publishes a Member (id,
// HTTP address, role) as its consumer-group member metadata, and Ownership
// reads every group's members and assignments back with DescribeGroups, like
// Kafka Streams' application.server. A forward target is only ever taken
// from that map, never from a request.
//
// Handlers return (any, error); one function maps the sentinel errors of
// package eventfold to HTTP status codes, and the JSON error codes map back
// to the same sentinels in Client, so errors.Is works across hops.
package interactive
