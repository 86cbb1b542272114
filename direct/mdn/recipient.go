package mdn

// About narrows r to what it reports about the recipients match accepts
// (match is given bare addresses): a report names its recipients in
// Final-Recipient and Original-Recipient, and a message may have gone to
// several, so a report about one message says nothing about a recipient
// it does not name. For a DSN the result keeps only the per-recipient
// blocks whose Final-Recipient or Original-Recipient match accepts, and its
// Reason is theirs; for an MDN it is r itself when its Final-Recipient or
// Original-Recipient is accepted (an MDN that names neither is taken as
// about the recipient it came from). ok is false when nothing in r is
// about an accepted recipient.
func (r *Report) About(match func(addr string) bool) (narrowed *Report, ok bool) {
	names := func(final, original string) bool {
		return final != "" && match(final) || original != "" && match(original)
	}
	if r.Kind == KindMDN {
		if r.FinalRecipient == "" && r.OriginalRecipient == "" {
			return r, true
		}
		return r, names(r.FinalRecipient, r.OriginalRecipient)
	}
	out := *r
	out.Recipients = nil
	for _, rs := range r.Recipients {
		if names(rs.FinalRecipient, rs.OriginalRecipient) {
			out.Recipients = append(out.Recipients, rs)
		}
	}
	if len(out.Recipients) == 0 {
		return nil, false
	}
	out.Reason = dsnReason(out.Recipients)
	return &out, true
}

// Action is what a DSN reports as a whole, by RFC 3464's meaning of each
// action: failed when a recipient block failed (the reporting MTA gave up);
// else delivered, relayed or expanded when one was (the message moved on);
// else delayed (still trying: a transient condition, not a failure). It is
// "" for an MDN or a DSN whose blocks carry no action it knows.
func (r *Report) Action() Action {
	if r.Kind != KindDSN {
		return ""
	}
	var best Action
	rank := map[Action]int{ActionDelayed: 1, ActionExpanded: 2, ActionRelayed: 3, ActionDelivered: 4, ActionFailed: 5}
	for _, rs := range r.Recipients {
		if rank[rs.Action] > rank[best] {
			best = rs.Action
		}
	}
	return best
}
