package smime

import (
	"bytes"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
)

// Wrap returns message (a complete RFC 5322 message, CRLF line endings) as
// the content of a message/rfc822 entity, the message wrapping of RFC 5751
// section 3.1 that the Direct Applicability Statement (v1.3) requires of
// senders: the whole message, header fields included, is then what is
// signed and encrypted. header, when not empty, is a block of header fields
// (each ending CRLF) repeated on the wrapper for readers that do not unwrap.
// A message with 8-bit bytes is labelled Content-Transfer-Encoding 8bit.
func Wrap(message, header []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(header) + len(message) + 80)
	out.Write(header)
	out.WriteString("Content-Type: message/rfc822\r\n")
	for _, c := range message {
		if c >= 0x80 {
			out.WriteString("Content-Transfer-Encoding: 8bit\r\n")
			break
		}
	}
	out.WriteString("\r\n")
	out.Write(message)
	return out.Bytes()
}

// Unwrap returns the message carried by a message/rfc822 entity (RFC 5751
// section 3.1 wrapping) and true. Any other entity is returned unchanged
// with false, since receivers must still take unwrapped messages. Of the
// wrapper only the Content-Type and Content-Transfer-Encoding are read;
// the wrapped message's own header is authoritative. Only one level is
// removed. Refusals wrap ErrMalformed.
func Unwrap(entity []byte) ([]byte, bool, error) {
	e, err := parseEntity(entity)
	if err != nil {
		return nil, false, fmt.Errorf("smime: unwrap: %w: %w", ErrMalformed, err)
	}
	if e.mediaType != "message/rfc822" {
		return entity, false, nil
	}
	var inner []byte
	switch cte := strings.ToLower(strings.TrimSpace(e.header.Get("Content-Transfer-Encoding"))); cte {
	case "quoted-printable":
		// Not allowed for message/rfc822 (RFC 2046 section 5.2.1), but some
		// senders encode the wrapped message so; decode rather than refuse.
		if inner, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(e.body))); err != nil {
			return nil, false, fmt.Errorf("smime: unwrap: %w: quoted-printable: %w", ErrMalformed, err)
		}
	default:
		if inner, err = e.decodedBody(); err != nil {
			return nil, false, fmt.Errorf("smime: unwrap: %w: %w", ErrMalformed, err)
		}
	}
	if len(bytes.TrimSpace(inner)) == 0 {
		return nil, false, fmt.Errorf("smime: unwrap: %w: empty message/rfc822 entity", ErrMalformed)
	}
	return inner, true, nil
}
