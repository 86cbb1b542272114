package gateway

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/referralgw/gateway/audit"
)

// outcomeCitation names where a documented outcome lives (a reference on
// the receiver's side or a record stored with the referral) without
// repeating its text, which is PHI.
func outcomeCitation(o *Outcome) string {
	switch {
	case o.Reference != "":
		return o.Reference
	case o.RecordID != "":
		return "record " + o.RecordID
	case o.Summary != "":
		return "summary documented"
	}
	return "documented"
}

// restate turns one trail entry into a receipt section and a sentence. It
// reads only the entry's metadata, which never holds PHI.
func restate(e audit.Entry) (section, statement string) {
	d := e.Detail
	get := func(k string) string { return d[k] }
	switch e.Action {
	case "referral.created":
		s := fmt.Sprintf("Referral created for receiver %s with %s record(s) on the %s basis.",
			get("receiver"), orDash(get("records")), orDash(get("consent")))
		if b := get("basedOn"); b != "" {
			s += " It follows up referral " + b + "."
		}
		if b := get("replaces"); b != "" {
			s += " It re-routes referral " + b + "."
		}
		return SectionCreated, s
	case "consent.checked":
		s := fmt.Sprintf("Consent basis %s for purpose %s rests on %s.", orDash(get("basis")), orDash(get("purpose")), orDash(get("rule")))
		if ids := get("consentRecords"); ids != "" {
			s += " Records on file relied on: " + ids + "."
		}
		if scope := get("consentScope"); scope != "" {
			s += " Their scope: " + scope + "."
		}
		if n := get("part2Notice"); n != "" {
			s += " The redisclosure notice of " + n + " travels with the records."
		}
		return SectionConsent, s
	case "consent.captured":
		return SectionConsent, fmt.Sprintf("Consent %s captured (%s).", get("consent"), detailString(d))
	case "minimum-necessary.checked":
		return SectionMinimum, "Minimum necessary (45 CFR 164.502(b)): " + orDash(get("minimumNecessary")) + "."
	case "minimum-necessary.overridden":
		return SectionMinimum, "Minimum-necessary (45 CFR 164.502(b)) block overridden, reason: " + orDash(get("reason")) + "."
	case "baa.checked":
		return SectionBAA, "BAA gate passed at submission: " + baaList(d) + "."
	case "referral.routed":
		return SectionRouting, "Routed to the " + orDash(get("channel")) + " channel."
	case "referral.fallback":
		return SectionRouting, "Fell back to another channel: " + detailString(d) + "."
	case "delivery.queued":
		if get("purpose") == "answer" {
			return SectionAnswer, fmt.Sprintf("The referrer's answer queued as delivery %s on %s, with record(s) %s.", get("delivery"), get("channel"), orDash(get("records")))
		}
		return SectionSend, fmt.Sprintf("Delivery %s queued on %s.", get("delivery"), get("channel"))
	case "delivery.sending":
		what := "Send"
		if get("purpose") == "answer" {
			what = "Answer to the request for more information: send"
		}
		s := fmt.Sprintf("%s attempt %s of delivery %s on %s carrying record(s) %s; BAAs at the moment of the send: %s.",
			what, orDash(get("attempt")), get("delivery"), get("channel"), orDash(get("records")), baaList(d))
		if n := get("part2Notice"); n != "" {
			s += " The " + n + " notice went with it."
		}
		return SectionSend, s
	case "delivery.sent":
		return SectionSend, fmt.Sprintf("Delivery %s accepted by the %s channel (remote id %s).", get("delivery"), get("channel"), orDash(get("remoteId")))
	case "delivery.retry", "delivery.retry-scheduled":
		return SectionSend, fmt.Sprintf("Delivery %s will be retried: %s.", get("delivery"), detailString(d))
	case "delivery.receipt", "delivery.receipt-late":
		return SectionReceipt, fmt.Sprintf("Receipt %s for delivery %s.", orDash(get("kind")), get("delivery"))
	case "delivery.delivered":
		return SectionReceipt, fmt.Sprintf("Delivery %s on %s confirmed delivered by %s.", get("delivery"), get("channel"), orDash(get("receipt")))
	case "delivery.failed", "delivery.timeout":
		return SectionReceipt, fmt.Sprintf("Delivery %s failed: %s.", get("delivery"), detailString(d))
	case "delivery.send-refused", "referral.send-refused", "referral.transition-refused":
		return SectionRefusal, fmt.Sprintf("Refused by the %s gate: %s.", orDash(get("gate")), orDash(get("reason")))
	case "referral.accepted", "referral.declined", "referral.info-requested":
		s := fmt.Sprintf("Receiver's answer: %s (%s → %s)", strings.TrimPrefix(e.Action, "referral."), get("from"), get("to"))
		if c := get("reasonCode"); c != "" {
			s += ", reason code " + c
		}
		return SectionAnswer, s + "."
	case "referral.closed":
		return SectionOutcome, "Outcome documented: " + orDash(get("outcome")) + "; referral closed."
	case "records.exchanged":
		return SectionRecords, fmt.Sprintf("Record %s (%s) added by the %s.", get("record"), get("contentType"), orDash(get("side")))
	case "referral.progress":
		return SectionLifecycle, "Receiver reported progress."
	case "referral.followed-up":
		return SectionLifecycle, fmt.Sprintf("Receiver referred the patient on or back: referral %s to %s (consent inherited: %s).",
			get("followUp"), get("receiver"), orDash(get("consentInherited")))
	case "referral.replaced":
		return SectionLifecycle, fmt.Sprintf("Re-routed: replaced by referral %s to %s.", get("replacedBy"), get("receiver"))
	}
	if e.Action == "referral.received" && get("from") == "on-hold" {
		return SectionAnswer, "The referrer answered the request for more information."
	}
	if strings.HasPrefix(e.Action, "referral.") && get("to") != "" {
		return SectionLifecycle, fmt.Sprintf("Status %s → %s.", get("from"), get("to"))
	}
	return SectionLifecycle, e.Action + ": " + detailString(d) + "."
}

// baaList renders the baa.* keys of detail: "receiver: party id state".
func baaList(d map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(d) {
		if role, ok := strings.CutPrefix(k, "baa."); ok {
			parts = append(parts, role+" "+d[k])
		}
	}
	if len(parts) == 0 {
		if r := d["receiver"]; r != "" {
			return "receiver " + r
		}
		return "-"
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
