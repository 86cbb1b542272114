// Package push is the gateway.Channel for on-platform receivers that speak
// FHIR (ChannelFHIR).
//
// For a receiver with a FHIR base URL it POSTs the referral as a
// transaction Bundle (ServiceRequest, Task, DocumentReference and Binary per
// record; see mapping.NewTransaction). The ServiceRequest and Task are
// created conditionally on the delivery id, so a resend after a crash or a
// timeout finds the Task the first attempt created instead of making a
// second one. When the directory entry names a token endpoint and client
// id, the channel authenticates with SMART Backend Services
// (smart.TokenSource). A 2xx answer delivers the referral (the receiver's
// Task id becomes the delivery's RemoteID); a 4xx is permanent; a 5xx, a 408,
// a 429 or a network failure is retried by the queue, from the receiver's
// FHIR server and its token endpoint alike. A 429 or 503 from either with
// a Retry-After field (seconds or an HTTP-date; see internal/retryafter)
// comes back as a gateway.RetryAfterError, and the queue waits at least
// that long, up to an hour, before the next push; the attempt still counts.
//
// A receiver without a base URL pulls its Tasks from the gateway's /fhir
// API; Send then carries nothing and reports an undelivered send with no
// receipt deadline, and the receiver's first Task update proves receipt.
//
// Sync follows one pushed referral by reading the receiver's Task back and
// applying the receiver's status change through the core (polling; FHIR
// Subscriptions are not used). Follow runs it on the core's queue: a
// periodic round queued by the queue's leader, one exclusive job per open
// pushed referral.
//
// The package must not import the direct or fax channels, and never logs
// or returns resource content: errors carry status codes and issue codes.
package push
