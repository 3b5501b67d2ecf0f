package interactive

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/kafka"
)

// AppendResponse is the body of POST /v1/{entity}/{id}/events.
type AppendResponse struct {
	Entity    string `json:"entity"`
	ID        string `json:"id"`
	Type      string `json:"type"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (s *Server) appendEvent(r *http.Request) (any, error) {
	typ, entityName, id, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return nil, err
	}
	body, err := readBody(r, s.cfg.maxBody)
	if err != nil {
		return nil, err
	}
	evType, err := typ.CheckEvent(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", eventfold.ErrInvalid, shortErr(err))
	}
	if s.b.Producer == nil {
		return nil, fmt.Errorf("%w: this node does not accept writes", eventfold.ErrUnavailable)
	}
	pos, err := s.b.Producer.Send(r.Context(), kafka.Record{Topic: typ.Topic(), Key: id, Value: body})
	if errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		// Permanent: retrying (503) could never succeed.
		return nil, fmt.Errorf("%w: %s refused the event as too large: %v", ErrTooLarge, typ.Topic(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: append to %s: %v", eventfold.ErrUnavailable, typ.Topic(), err)
	}
	return AppendResponse{Entity: entityName, ID: id, Type: evType, Partition: pos.Partition, Offset: pos.Offset}, nil
}
