package codec_test

import (
	"fmt"

	"github.com/eventfold/eventfold/codec"
)

type AccountEvent interface{ accountEvent() }

type Deposited struct {
	Amount int `json:"amount"`
}

func (*Deposited) accountEvent() {}

func ExampleUnion() {
	events := codec.NewUnion[AccountEvent]().
		MustRegister("Deposited", func() AccountEvent { return &Deposited{} })

	b, _ := events.Encode(&Deposited{Amount: 5})
	fmt.Println(string(b))

	e, _ := events.Decode([]byte(`{"type":"Deposited","amount":7}`))
	fmt.Println(e.(*Deposited).Amount)

	_, err := events.Decode([]byte(`{"type":"Withdrawn"}`))
	fmt.Println(err)
	// Output:
	// {"type":"Deposited","amount":5}
	// 7
	// codec union: cannot decode "Withdrawn": codec: unknown type
}
