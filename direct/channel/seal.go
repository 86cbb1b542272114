package channel

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"mime"
	"slices"
	"strings"

	"github.com/referralgw/gateway/direct/smime"
)

// outerFields are the header fields repeated outside the encryption so that
// MTAs and mail clients can route and thread the message; they carry no PHI
// (the subject is content-free by construction).
var outerFields = []string{"from", "to", "subject", "date", "message-id", "in-reply-to", "references"}

// Seal wraps entity (a complete RFC 5322 message from message.Compose or
// mdn.Build, CRLF line endings) in message/rfc822, signs that with our
// identity for the address from and encrypts it for recipient, returning
// the message to hand to SMTP: the routing header fields of entity,
// MIME-Version, then the enveloped entity. entity's Subject is repeated
// outside, so it must be content-free (as our referral and MDN subjects
// are); SealWithOuterSubject is for one that is not.
func (c *Channel) Seal(from string, recipient *x509.Certificate, entity []byte) ([]byte, error) {
	return c.seal(from, recipient, entity, nil)
}

// SealWithOuterSubject is Seal for an entity whose Subject may carry
// content (a reply repeating a subject that came to us encrypted): the real
// Subject stays inside the encryption, in the wrapped message, and the
// outer header carries subject instead.
func (c *Channel) SealWithOuterSubject(from string, recipient *x509.Certificate, entity []byte, subject string) ([]byte, error) {
	line := "Subject: " + mime.QEncoding.Encode("utf-8", strings.Join(strings.Fields(subject), " ")) + "\r\n"
	return c.seal(from, recipient, entity, []byte(line))
}

// seal does Seal; a non-nil subjectLine replaces the Subject field of the
// outer header.
func (c *Channel) seal(from string, recipient *x509.Certificate, entity, subjectLine []byte) ([]byte, error) {
	id, err := c.cfg.Keys.ForAddress(from)
	if err != nil {
		return nil, fmt.Errorf("direct: seal: signing identity for %s: %w", from, err)
	}
	routing := headerFields(entity, outerFields)
	// The Applicability Statement (v1.3) requires message wrapping (RFC 5751
	// section 3.1): the whole message is signed as a message/rfc822 entity.
	signed, err := smime.Sign(smime.Wrap(entity, routing), id.Cert, id.Key, id.Chain)
	if err != nil {
		return nil, fmt.Errorf("direct: seal: sign: %w", err)
	}
	enveloped, err := smime.Encrypt(signed, []*x509.Certificate{recipient}, c.cfg.Content)
	if err != nil {
		return nil, fmt.Errorf("direct: seal: encrypt for %q: %w", recipient.Subject.CommonName, err)
	}
	var out bytes.Buffer
	if subjectLine == nil {
		out.Write(routing)
	} else {
		out.Write(headerFields(entity, slices.DeleteFunc(slices.Clone(outerFields), func(f string) bool { return f == "subject" })))
		out.Write(subjectLine)
	}
	out.WriteString("MIME-Version: 1.0\r\n")
	out.Write(enveloped)
	return out.Bytes(), nil
}

// headerFields returns the raw lines (with their continuation lines) of the
// named fields of raw's header, in their original order.
func headerFields(raw []byte, names []string) []byte {
	var out bytes.Buffer
	keep := false
	for len(raw) > 0 {
		nl := bytes.IndexByte(raw, '\n')
		var line []byte
		if nl < 0 {
			line, raw = raw, nil
		} else {
			line, raw = raw[:nl+1], raw[nl+1:]
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			break // end of header
		}
		if trimmed[0] != ' ' && trimmed[0] != '\t' {
			keep = false
			if colon := bytes.IndexByte(trimmed, ':'); colon > 0 {
				name := strings.ToLower(strings.TrimSpace(string(trimmed[:colon])))
				for _, n := range names {
					if n == name {
						keep = true
						break
					}
				}
			}
		}
		if keep {
			out.Write(trimmed)
			out.WriteString("\r\n")
		}
	}
	return out.Bytes()
}
