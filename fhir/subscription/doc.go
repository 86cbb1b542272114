// Package subscription implements FHIR R4 Subscriptions with a rest-hook
// channel for the gateway's FHIR API: an EHR subscribes to changes of the
// Tasks its organisation owns (Task?owner=) or requested (Task?requester=),
// and the gateway notifies the EHR's endpoint of every new Task version in
// the R4 core rest-hook form: without a payload a POST with no body to the
// endpoint, with payload application/fhir+json the Task PUT to
// [endpoint]/Task/[id] (the endpoint read as the EHR's FHIR base). The
// Subscriptions R5 Backport profile (topics, notification Bundles) is not
// implemented, and a Subscription claiming it is refused.
//
// The package owns the Subscription resource (parsing and validation of
// what a client submits, Parse and Validate), its mapping onto the core's
// subscription records (Registry, over Service.CreateSubscription,
// ChangeSubscription and their kin: the core keeps them in a table of
// their own with the delivery state, the channel sealed) and delivery
// (Notifier): the core queues, in the transaction that stores every new
// Task version, one job per matching subscription on its queue (River),
// and hands them to the Notifier (Service.ServeSubscriptions); a job
// sends the versions its subscription has not had, oldest first, one
// notification per version; the handshake (a POST with no body to the
// endpoint) moves a requested subscription to active; a failing
// endpoint's jobs wait out an exponential backoff, and after a bounded
// number of consecutive failures the subscription goes to status error
// instead of being retried forever.
//
// A subscription only ever names its own organisation in its criteria, and
// every referral is checked again before it is sent, so a subscription
// never notifies about a referral its organisation is not a party to.
// Every notification attempt is written to the audit trail with ids and
// metadata only.
//
// The package must not handle HTTP requests from clients (fhir/api does,
// calling Registry), must not import the direct or fax channels, and never
// logs or audits PHI or resource content.
package subscription
