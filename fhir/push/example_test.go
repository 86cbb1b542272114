package push_test

import (
	"context"
	"fmt"

	"github.com/referralgw/gateway/fhir/push"
	"github.com/referralgw/gateway/gateway"
)

func ExampleChannel_Reachable() {
	ch := push.New(push.Config{})
	for _, e := range []*gateway.Entry{
		{ID: "org-pull", OnPlatform: true, FHIR: &gateway.FHIREndpoint{}},
		{ID: "org-push", OnPlatform: true, FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr.example.org/fhir"}},
		{ID: "org-paper", FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr.example.org/fhir"}},
	} {
		fmt.Println(e.ID, ch.Reachable(context.Background(), e))
	}
	// Output:
	// org-pull <nil>
	// org-push <nil>
	// org-paper fhir: receiver is not on the platform
}
