// Package smartstore keeps the gateway's SMART Backend Services state in the
// core store, so that every gateway instance sharing a database sees the same
// registered clients and refuses an assertion replayed against any of them.
//
// It keeps them through the core's typed methods (Service.SMARTClient,
// PutSMARTClient, SetSMARTClientDisabled, UseAssertionID): a registered
// client is its organisation, allowed scopes and JWKS as submitted, parsed
// again on every lookup; an accepted client assertion id is kept until the
// assertion expires. Store implements smart.ClientRegistry and
// smart.ReplayCache.
//
// It must not import a channel package (direct, fax) or the FHIR API, and it
// never logs or audits key material: registrations are audited with the
// client id, its organisation, scopes and key ids only.
package smartstore
