package cluster_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/kafka"
)

func TestDefaultsAndNames(t *testing.T) {
	s := cluster.Settings{}.WithDefaults()
	if s.App != "eventfold" || s.DataDir != "data" || s.Partitioner != kafka.FNV1a || s.Sarama == nil || s.Logger == nil {
		t.Fatalf("defaults = %+v", s)
	}
	for _, tc := range []struct{ got, want string }{
		{s.Group("orders"), "eventfold-orders"},
		{s.TableTopic("orders"), "eventfold-orders-table"},
		{s.HistoryTopic("orders"), "eventfold-orders-history"},
		{s.ReplicaGroup(), "eventfold-replicas"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	set := cluster.Settings{App: "shop", Partitioner: kafka.Murmur2}.WithDefaults()
	if set.App != "shop" || set.Partitioner != kafka.Murmur2 {
		t.Errorf("WithDefaults overrode what was set: %+v", set)
	}
}

func TestValidateRefusesAnAppNameTopicsCannotCarry(t *testing.T) {
	for _, app := range []string{"Shop", "-x", "a b", string(make([]byte, 64))} {
		if err := (cluster.Settings{App: app}).WithDefaults().Validate(); !errors.Is(err, eventfold.ErrInvalid) {
			t.Errorf("app %q: Validate() = %v, want ErrInvalid", app, err)
		}
	}
	if err := (cluster.Settings{}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func ExampleSettings() {
	s := cluster.Settings{App: "shop"}.WithDefaults()
	fmt.Println(s.Group("orders"), s.TableTopic("orders"), s.DataDir)
	// Output: shop-orders shop-orders-table data
}
