package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// infoCase: B's staff ask for more information by Direct reply; the
// referrer answers with the medication list, which goes back to B by
// Direct as a message threaded on the referral, and B's HISP confirms it
// with MDNs like any message.
func (d *demoRun) infoCase(ctx context.Context, c *demoCase) {
	r, dl := d.sendUntilReceived(ctx, c, "#7 info", demoReferral(7, "bh-direct"), gateway.ChannelDirect, "Direct delivery delivered")
	if dl == nil {
		return
	}
	if err := d.replyAsB(ctx, r.ID, dl.RemoteID, "Question: please send the current medication list."); err != nil {
		c.fail("B asks for more information", err)
		return
	}
	held, _, err := d.waitStatus(ctx, r.ID, gateway.StatusOnHold)
	if err != nil {
		c.fail("A puts the referral on hold", err)
		return
	}
	d.tl.say("#7 info     on hold; the referrer answers with the medication list")
	list := gateway.NewRecord{Title: "Medication list", ContentType: "text/plain",
		Content: []byte("Synthetic medication list: sertraline 50 mg daily.")}
	if _, err := d.svc.AnswerHold(ctx, demoReferrer, held.ID, "Medication list attached.", list); err != nil {
		c.fail("referrer answers", err)
		return
	}
	var answer *gateway.Delivery
	err = waitFor(ctx, func() (bool, error) {
		_, ds, err := d.svc.Referral(ctx, r.ID)
		for _, x := range ds {
			if x.Purpose == gateway.PurposeAnswer && x.State == gateway.DeliveryDelivered {
				answer = x
			}
		}
		return answer != nil, err
	})
	if err != nil {
		c.fail("answer delivered by Direct", err)
		return
	}
	c.actual, c.ok = "on hold by reply; answer "+shortID(answer.ID)+" delivered ("+receiptKinds(answer)+")", true
}

// onwardCase: the on-platform orthopedic practice receives a referral and
// refers the patient on to the fax-only clinic; the treatment basis is
// inherited, the new referral goes through the same gates and is faxed,
// and the two referrals name each other.
func (d *demoRun) onwardCase(ctx context.Context, c *demoCase) {
	r, dl := d.sendUntilReceived(ctx, c, "#8 onward", demoReferral(8, "ortho-ehr"), gateway.ChannelFHIR, "FHIR push delivered")
	if dl == nil {
		return
	}
	ortho := gateway.Actor{ID: "user:ortho-front-desk", OrgID: r.ReceiverOrgID}
	nr, err := d.svc.Reverse(ctx, ortho, r.ID, gateway.ReverseInput{ReceiverID: "fax-clinic", Phone: "+1 555 234 5679",
		ReasonText: "Please follow up physiotherapy close to home.", Submit: true})
	if err != nil {
		c.fail("ortho refers onward", err)
		return
	}
	if !d.followSecond(ctx, c, nr.ID, "#8b onward", gateway.ChannelFax, "onward referral faxed",
		"#8 onward   ortho refers the patient on to fax-clinic as %s (treatment basis inherited)") {
		return
	}
	orig, _, err := d.svc.Referral(ctx, r.ID)
	if err != nil || len(orig.FollowUps) != 1 || orig.FollowUps[0] != nr.ID {
		c.fail("original names its follow-up", err)
		return
	}
	c.actual, c.ok = "onward as "+shortID(nr.ID)+", received by fax", true
}

// checkReceipts builds the compliance receipt of every case's referrals
// and notes, per case, how many lines they hold and whether every cited
// trail entry verified.
func checkReceipts(ctx context.Context, svc *gateway.Service, cases []*demoCase) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, c := range cases {
		var parts []string
		for _, id := range c.referrals {
			rc, err := svc.ComplianceReceipt(ctx, id)
			switch {
			case err != nil:
				parts = append(parts, fmt.Sprintf("%s: no receipt (%v)", shortID(id), err))
			case !rc.Verification.OK:
				parts = append(parts, fmt.Sprintf("%s: does not verify: %s", shortID(id), strings.Join(rc.Verification.Problems, "; ")))
			default:
				parts = append(parts, fmt.Sprintf("%s: %d lines, %d citations verified", shortID(id), len(rc.Lines), rc.Verification.Checked))
			}
		}
		c.receipts = strings.Join(parts, "; ")
	}
}

// followSecond follows a case's second referral (a replacement, a referral
// onward): it labels it, tells the timeline (say has one %s for its short
// id) and waits until it is received on ch, failing the case with step
// otherwise.
func (d *demoRun) followSecond(ctx context.Context, c *demoCase, id, label string, ch gateway.ChannelKind, step, say string) bool {
	d.tl.label(id, label)
	c.referrals = append(c.referrals, id)
	d.tl.say(say, shortID(id))
	_, ds, err := d.waitStatus(ctx, id, gateway.StatusReceived)
	if err != nil || delivered(ds, ch) == nil {
		c.fail(step, err)
		return false
	}
	return true
}
