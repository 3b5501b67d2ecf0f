package kafka_test

import (
	"fmt"

	"github.com/eventfold/eventfold/kafka"
)

// A Kafka with SCRAM over TLS: the settings go into the one sarama config
// every client of a node is copied from. Printing a Security never shows
// the password.
func ExampleSecurity_Apply() {
	sc := kafka.NewConfig()
	sec := kafka.Security{
		TLS:  kafka.TLS{Enable: true}, // the system's CAs; CAFile for your own
		SASL: kafka.SASL{Mechanism: kafka.SASLScramSHA512, User: "eventfold", Password: "from a file or the environment"},
	}
	if err := sec.Apply(sc); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sc.Net.TLS.Enable, sc.Net.SASL.Mechanism)
	fmt.Println(sec)

	err := kafka.Security{TLS: kafka.TLS{CAFile: "/etc/ca.pem"}}.Apply(kafka.NewConfig())
	fmt.Println(err)
	// Output:
	// true SCRAM-SHA-512
	// TLS (system CAs), SASL SCRAM-SHA-512 as "eventfold" (password set)
	// kafka: TLS.CAFile: given, but TLS is not enabled
}
