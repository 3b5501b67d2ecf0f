// Package console is the ops console every node serves at /ui/: the
// cluster (members, the partition map of each entity type with owners,
// standbys, replicas and lag, recent rebalances, subscribers), an entity
// explorer (state, the timeline of events with why a rejected one was not
// applied, a version slider, the difference between two versions, sending
// a command with If-Match), and the dead letters of each entity type.
//
// It is one static page and a script, embedded in the binary: no outside
// assets, nothing to build with npm, and it works offline and behind a
// proxy (every URL is relative). It reads and writes only through the
// node's HTTP API (/v1/...), so it needs nothing the API does not give a
// client, and a token is asked once, kept for the tab (sessionStorage) and
// sent as a bearer header, never put in a URL.
package console
