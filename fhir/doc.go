// Package fhir is the gateway's FHIR R4 face. It holds no code of its own;
// its subpackages do the work:
//
//   - fhir/mapping turns a referral into ServiceRequest, Task, Patient,
//     Practitioner, Organization, Consent, DocumentReference and Binary
//     resources and reads them back, guarding against the defects of the
//     generated resource types it builds on.
//   - fhir/api is the REST API on-platform EHRs call (/fhir), behind SMART
//     Backend Services bearer tokens.
//   - fhir/push is the gateway.Channel that delivers a referral to a
//     receiver's own FHIR server as a transaction Bundle.
//   - fhir/smart is SMART Backend Services authorization in both directions;
//     fhir/smartstore keeps its client registrations and seen assertion ids
//     in the core store.
//   - fhir/subscription is R4 rest-hook Subscriptions: EHRs subscribe to
//     their Task changes and the notifier posts them, with backoff, until an
//     endpoint fails too often and is marked in error.
//
// The fhir packages may import gateway (to read its types, call its Service
// and implement gateway.Channel) and audit; they must never import the
// other channels (direct, fax). Nothing here logs PHI or resource content:
// log lines and audit events carry ids and metadata only.
package fhir
