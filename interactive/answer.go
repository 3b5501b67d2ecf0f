package interactive

import "net/http"

// responder is a handler's value that writes itself, for the answers plain
// JSON cannot be: headers that say where the answer comes from, a body
// streamed piece by piece, another node's answer relayed. Any other value
// is written as JSON by wrap.
type responder interface {
	respond(w http.ResponseWriter)
}

// served is a JSON answer of this node with its provenance headers
// (Eventfold-Served-By, and for entities -Partition, -Stale, -Lag).
type served struct {
	header http.Header
	body   any
}

func (a served) respond(w http.ResponseWriter) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	writeJSON(w, http.StatusOK, a.body)
}

// servedBy is a served answer with only the Eventfold-Served-By header.
func (s *Server) servedBy(body any) served {
	h := http.Header{}
	h.Set(HeaderServedBy, s.self.ID)
	return served{header: h, body: body}
}
