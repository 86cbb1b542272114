package mdn

import (
	"fmt"
	"strings"
)

// Disposition is the disposition type of an MDN (RFC 8098 section 3.2.6.2,
// plus "failed" as the Direct delivery notification guide uses it).
type Disposition string

// The disposition types the gateway sends or recognises.
const (
	Processed  Disposition = "processed"  // the receiving HISP accepted and decrypted the message
	Dispatched Disposition = "dispatched" // the message reached the recipient (final delivery)
	Displayed  Disposition = "displayed"  // a user agent showed the message
	Deleted    Disposition = "deleted"    // the message was discarded unread
	Failed     Disposition = "failed"     // the receiving side could not deliver it
)

// valid reports whether d is one of the known disposition types.
func (d Disposition) valid() bool {
	switch d {
	case Processed, Dispatched, Displayed, Deleted, Failed:
		return true
	}
	return false
}

// FinalDeliveryField is the MDN extension field (and request option name) of
// the Direct delivery notification guide.
const FinalDeliveryField = "X-DIRECT-FINAL-DESTINATION-DELIVERY"

// dispositionField is a parsed Disposition field value:
// action-mode/sending-mode; type/modifier,modifier.
type dispositionField struct {
	ActionMode  string
	SendingMode string
	Type        Disposition
	Modifiers   []string
}

func (f dispositionField) String() string {
	s := fmt.Sprintf("%s/%s; %s", f.ActionMode, f.SendingMode, f.Type)
	if len(f.Modifiers) > 0 {
		s += "/" + strings.Join(f.Modifiers, ",")
	}
	return s
}

// parseDisposition parses a Disposition field value leniently: comments are
// dropped, case is folded, missing modes are left empty.
func parseDisposition(v string) (dispositionField, error) {
	v = stripComments(v)
	modes, rest, ok := strings.Cut(v, ";")
	if !ok {
		return dispositionField{}, fmt.Errorf("disposition %q has no ';'", v)
	}
	var f dispositionField
	am, sm, _ := strings.Cut(modes, "/")
	f.ActionMode = strings.ToLower(strings.TrimSpace(am))
	f.SendingMode = strings.ToLower(strings.TrimSpace(sm))
	typ, mods, _ := strings.Cut(rest, "/")
	f.Type = Disposition(strings.ToLower(strings.TrimSpace(typ)))
	if f.Type == "" {
		return dispositionField{}, fmt.Errorf("disposition %q has no type", v)
	}
	for _, m := range strings.Split(mods, ",") {
		if m = strings.ToLower(strings.TrimSpace(m)); m != "" {
			f.Modifiers = append(f.Modifiers, m)
		}
	}
	return f, nil
}

// stripComments removes RFC 5322 parenthesised comments (nesting allowed).
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}
