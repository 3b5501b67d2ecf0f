// Package interactive serves entity state over HTTP from any node: stage 2
// of eventfold, after package processor has folded the events.
//
//	GET /v1/{entity}/{id} ──► partition = hash(id) mod N
//	       │ this node owns it ──► local table
//	       │ another node does ──► forward once (Eventfold-Hop header) to the owner
//	       └ no owner answers within the deadline ──► hot-standby copy (Eventfold-Stale) or 503
//
// Reads, commands and history pages take the one route to the owner
// (route.go): answer here, else forward once (forward.go), and try again
// within the lookup deadline while ownership moves. A node holds what the
// Backend gives it, role by role; a role it lacks (a replica owns no
// partition) sends the request to the owner, as a partition another node
// owns does.
//
// Who owns what comes from Kafka alone: each node publishes a Member (id,
// HTTP address, role) as its consumer-group member metadata, and Ownership
// reads every group's members and assignments back with DescribeGroups, like
// Kafka Streams' application.server. A forward target is only ever taken
// from that map, never from a request.
//
// Every route is a handler returning (any, error): wrap writes the value
// (as JSON, or a responder writes itself: provenance headers, a streamed
// history page, a relayed answer), and writeError alone maps the sentinel
// errors of package eventfold to HTTP status codes. The JSON error codes
// map back to the same sentinels in Client, so errors.Is works across hops.
package interactive
