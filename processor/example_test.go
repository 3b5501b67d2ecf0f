package processor_test

import (
	"errors"
	"fmt"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/codec"
	"github.com/eventfold/eventfold/entity"
)

type AccountEvent interface{ accountEvent() }

type Opened struct{}
type Deposited struct {
	Amount int `json:"amount"`
}

func (*Opened) accountEvent()    {}
func (*Deposited) accountEvent() {}

type Account struct {
	Open    bool `json:"open"`
	Balance int  `json:"balance"`
}

// Declaring an entity type: a codec for its events and a pure Evolve.
// Type() validates the declaration and gives what the node needs.
func ExampleEntity() {
	accounts := entity.Entity[Account, AccountEvent]{
		Name: "accounts",
		Events: codec.NewUnion[AccountEvent]().
			MustRegister("Opened", func() AccountEvent { return &Opened{} }).
			MustRegister("Deposited", func() AccountEvent { return &Deposited{} }),
		Evolve: func(a Account, e AccountEvent) (Account, error) {
			switch e := e.(type) {
			case *Opened:
				a.Open = true
			case *Deposited:
				if !a.Open {
					return a, errors.New("deposit into an account that is not open")
				}
				a.Balance += e.Amount
			}
			return a, nil
		},
	}
	t, err := accounts.Type()
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Topic(), t.DeadLetterTopic(), cluster.Settings{App: "bank"}.TableTopic(t.Name()))
	fmt.Println(t.EventTypes())
	typ, err := t.CheckEvent([]byte(`{"type":"Deposited","amount":5}`))
	fmt.Println(typ, err)
	_, err = t.CheckEvent([]byte(`{"type":"Withdrawn"}`))
	fmt.Println(err)
	// Output:
	// accounts-events accounts-events-dlq bank-accounts-table
	// [Deposited Opened]
	// Deposited <nil>
	// codec union: cannot decode "Withdrawn": codec: unknown type
}
