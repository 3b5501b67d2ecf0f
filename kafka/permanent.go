package kafka

import (
	"errors"
	"hash"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Permanent reports whether a produce error will come back on every retry:
// the record is over a size limit, the producer is misconfigured, or the
// cluster refuses it by permission or policy. Such a write must not be
// retried in a loop (a consumer group session that fails, rejoins and
// fails again); the caller stops with the error instead.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var ce sarama.ConfigurationError
	if errors.As(err, &ce) {
		return true
	}
	for _, kerr := range []error{
		sarama.ErrMessageSizeTooLarge,
		sarama.ErrMessageSetSizeTooLarge,
		sarama.ErrInvalidRecord,
		sarama.ErrInvalidTopic,
		sarama.ErrInvalidRequiredAcks,
		sarama.ErrPolicyViolation,
		sarama.ErrTopicAuthorizationFailed,
		sarama.ErrClusterAuthorizationFailed,
		sarama.ErrTransactionalIDAuthorizationFailed,
		sarama.ErrUnsupportedForMessageFormat,
		sarama.ErrUnsupportedVersion,
	} {
		if errors.Is(err, kerr) {
			return true
		}
	}
	return false
}

// ProducerBuilder returns the goka producer builder of ProcessorOptions.
func ProducerBuilder(base *sarama.Config) goka.ProducerBuilder { return producerBuilder(base) }

// WatchProducer wraps a goka producer builder so that every error of every
// record it produces is shown to observe (for example to remember a
// permanent one). goka itself only fails the partition on such errors.
func WatchProducer(inner goka.ProducerBuilder, observe func(error)) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		p, err := inner(brokers, clientID, hasher)
		if err != nil {
			return nil, err
		}
		return watchedProducer{Producer: p, observe: observe}, nil
	}
}

type watchedProducer struct {
	goka.Producer
	observe func(error)
}

func (w watchedProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return w.watch(w.Producer.Emit(topic, key, value))
}

func (w watchedProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	return w.watch(w.Producer.EmitWithHeaders(topic, key, value, headers))
}

func (w watchedProducer) watch(p *goka.Promise) *goka.Promise {
	return p.Then(func(err error) {
		if err != nil {
			w.observe(err)
		}
	})
}
