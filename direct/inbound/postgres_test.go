package inbound_test

import (
	"testing"
)

// onPostgres makes pair build its nodes on PostgreSQL, each in a fresh
// schema, instead of the embedded store; TestOnPostgres sets it while its
// subtests run. No other test of the package is parallel, so none runs
// meanwhile.
var onPostgres bool

// TestOnPostgres runs the Direct cases of issue 17 that go through the
// store (receipts from the exact address, the inbox and dispatched only
// when available, processed always and to the sender, the revocation
// outage, duplicates, the delivery notification cases, refusals, replies,
// AIA for a signer, a send killed before its recording, the failed MDN for
// a quarantined message, unsigned DSNs, signed DSNs read per recipient,
// recipients refused at RCPT TO or answered failed, the MDN order) on
// PostgreSQL as
// well as on the embedded store.
func TestOnPostgres(t *testing.T) {
	onPostgres = true
	t.Cleanup(func() { onPostgres = false })
	for _, tc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"EndToEnd", TestEndToEnd},
		{"ReplyFromAnotherUserOfTheDomain", TestReplyFromAnotherUserOfTheDomain},
		{"DispatchedOnlyWhenAvailable", TestDispatchedOnlyWhenAvailable},
		{"ProcessedAlwaysToSender", TestProcessedAlwaysToSender},
		{"Refusals", TestRefusals},
		{"RevocationOutage", TestRevocationOutage},
		{"DeliveryNotificationCases", TestDeliveryNotificationCases},
		{"DuplicateOverSMTP", TestDuplicateOverSMTP},
		{"Replies", TestReplies},
		{"SignerChainViaAIA", TestSignerChainViaAIA},
		{"KilledBetweenSendAndRecord", TestKilledBetweenSendAndRecord},
		{"MDNsForEachRecipient", TestMDNsForEachRecipient},
		{"EnvelopeMustMatchSignedHeader", TestEnvelopeMustMatchSignedHeader},
		{"FailedMDNForQuarantinedMessage", TestFailedMDNForQuarantinedMessage},
		{"UnsignedFailureDSN", TestUnsignedFailureDSN},
		{"UnsignedReportsRefused", TestUnsignedReportsRefused},
		{"SignedDSNPerRecipient", TestSignedDSNPerRecipient},
		{"UnknownRecipientRefusedAtRCPT", TestUnknownRecipientRefusedAtRCPT},
		{"RecipientAmongManyLookAlikes", TestRecipientAmongManyLookAlikes},
		{"FailedOnlyForTheUndeliverableRecipient", TestFailedOnlyForTheUndeliverableRecipient},
		{"ProcessedBeforeDispatched", TestProcessedBeforeDispatched},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each its own schemas, ports and clocks
			tc.run(t)
		})
	}
}
