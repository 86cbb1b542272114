package subscription_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/referralgw/gateway/fhir/subscription"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// Example wires a Registry (what fhir/api stores client subscriptions in)
// and a Notifier over one core, as cmd/ does, and shows a requested
// subscription confirmed by its handshake. Run calls Poll every interval;
// here one Poll is enough.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "subscription-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store, err := litestore.Open(ctx, filepath.Join(dir, "g.db"), sqlstore.DefaultQueueConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	sealer, _ := gateway.NewSealer(make([]byte, 32))
	svc := gateway.NewService(store, sealer, nil, gateway.DefaultConfig(), nil)

	var pings atomic.Int32 // the EHR's rest-hook endpoint
	ehr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pings.Add(1) }))
	defer ehr.Close()

	// Development settings: a plain-http endpoint on the loopback address.
	cfg := subscription.Config{AllowHTTP: true, AllowPrivateNetworks: true}
	reg := subscription.NewRegistry(svc, cfg)
	notifier := subscription.NewNotifier(svc, cfg, nil)

	s, err := reg.Create(ctx, subscription.Owner{OrgID: "org-ortho", ClientID: "ehr-ortho"}, &subscription.Resource{
		ResourceType: "Subscription", Status: subscription.StatusRequested, Reason: "referrals we receive",
		Criteria: "Task?owner=Organization/org-ortho",
		Channel:  &subscription.Channel{Type: "rest-hook", Endpoint: ehr.URL, Payload: subscription.PayloadFHIRJSON},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created:", s.Status)
	if err := notifier.Poll(ctx); err != nil {
		fmt.Println(err)
		return
	}
	s, err = reg.Get(ctx, "org-ortho", s.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("handshakes:", pings.Load())
	fmt.Println("now:", s.Status)
	// Output:
	// created: requested
	// handshakes: 1
	// now: active
}
