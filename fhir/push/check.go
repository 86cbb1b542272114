package push

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

var _ gateway.EndpointChecker = (*Channel)(nil)

// CheckEndpoint implements gateway.EndpointChecker: the receiver's FHIR
// base answers GET metadata with an R4 CapabilityStatement (through the
// same SMART authentication and network guard as pushes). A refusal or an
// answer that is not a CapabilityStatement fails the check; a network
// failure or a 5xx leaves it unknown. A pull-mode party (no base URL) has
// nothing to check and passes.
func (c *Channel) CheckEndpoint(ctx context.Context, to *gateway.Entry) (gateway.CheckStatus, string) {
	if to.FHIR == nil || to.FHIR.BaseURL == "" {
		return gateway.CheckOK, "pull mode: the party reads its Tasks from the gateway"
	}
	body, err := c.exchange(ctx, to, "GET", "metadata", nil)
	if err != nil {
		if gateway.IsPermanent(err) {
			return gateway.CheckFailed, "metadata: " + err.Error()
		}
		return gateway.CheckUnknown, "metadata: " + err.Error()
	}
	var cs struct {
		ResourceType string `json:"resourceType"`
		FHIRVersion  string `json:"fhirVersion"`
	}
	if err := json.Unmarshal(body, &cs); err != nil || cs.ResourceType != "CapabilityStatement" {
		return gateway.CheckFailed, fmt.Sprintf("metadata is not a CapabilityStatement (resourceType %q)", cs.ResourceType)
	}
	if !strings.HasPrefix(cs.FHIRVersion, "4.") {
		return gateway.CheckFailed, fmt.Sprintf("CapabilityStatement declares FHIR %q, not R4", cs.FHIRVersion)
	}
	return gateway.CheckOK, "CapabilityStatement, FHIR " + cs.FHIRVersion
}
