// Package channel connects cloud fax to the referral core: it implements
// gateway.Channel for gateway.ChannelFax by rendering the referral packet
// (fax/packet) and submitting it through a fax vendor, and
// gateway.ReceiptPoller by asking the vendor for a fax's outcome when no
// callback arrived in time.
//
// The vendor sits behind the small Vendor interface; Phaxio adapts the
// fax/phaxio client to it, and turns a throttled reply's Retry-After
// (phaxio.APIError.RetryAfter) into a gateway.RetryAfterError, so the
// queue's next attempt comes no sooner than the vendor asked. Result turns a vendor's outcome into a
// gateway.Receipt, and fax/callback reuses it for the vendor's signed
// callbacks, so the poll and the callback classify failures the same way.
//
// It must not import fhir or direct, must not change referral or delivery
// state itself (the core records what Send and PollReceipt return), and
// never logs or puts into errors record content, patient data or the fax
// number's owner: only delivery ids, fax ids, page counts and vendor codes.
package channel
