package smime

import "errors"

// maxBERDepth bounds the nesting berToDER follows; CMS needs fewer than 16.
const maxBERDepth = 32

// berToDER rewrites a BER encoding (as streaming CMS producers such as
// BouncyCastle or `openssl cms -stream` emit it) with definite, minimal
// lengths, so encoding/asn1 can read it. It keeps constructed strings
// constructed and does not reorder SETs; parseEnvelope copes with both.
func berToDER(b []byte) ([]byte, error) {
	out, rest, err := berElement(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("ber: trailing data")
	}
	return out, nil
}

func berElement(b []byte, depth int) (out, rest []byte, err error) {
	if depth > maxBERDepth {
		return nil, nil, errors.New("ber: nested too deeply")
	}
	if len(b) < 2 {
		return nil, nil, errors.New("ber: truncated")
	}
	i := 1
	if b[0]&0x1f == 0x1f { // high tag number form
		for {
			if i >= len(b) || i > 5 {
				return nil, nil, errors.New("ber: bad tag")
			}
			c := b[i]
			i++
			if c&0x80 == 0 {
				break
			}
		}
	}
	tag := b[:i]
	constructed := b[0]&0x20 != 0
	if i >= len(b) {
		return nil, nil, errors.New("ber: truncated")
	}
	l := b[i]
	i++
	if l == 0x80 { // indefinite length: children until end-of-contents
		if !constructed {
			return nil, nil, errors.New("ber: indefinite length on a primitive")
		}
		var content []byte
		rest = b[i:]
		for {
			if len(rest) >= 2 && rest[0] == 0 && rest[1] == 0 {
				return appendTLV(nil, tag, content), rest[2:], nil
			}
			if len(rest) == 0 {
				return nil, nil, errors.New("ber: missing end-of-contents")
			}
			var child []byte
			if child, rest, err = berElement(rest, depth+1); err != nil {
				return nil, nil, err
			}
			content = append(content, child...)
		}
	}
	length := int(l)
	if l&0x80 != 0 {
		n := int(l & 0x7f)
		if n > 4 || i+n > len(b) {
			return nil, nil, errors.New("ber: bad length")
		}
		length = 0
		for _, c := range b[i : i+n] {
			length = length<<8 | int(c)
		}
		i += n
	}
	if length < 0 || length > len(b)-i {
		return nil, nil, errors.New("ber: truncated")
	}
	body, rest := b[i:i+length], b[i+length:]
	if !constructed {
		return appendTLV(nil, tag, body), rest, nil
	}
	var content []byte
	for len(body) > 0 {
		var child []byte
		if child, body, err = berElement(body, depth+1); err != nil {
			return nil, nil, err
		}
		content = append(content, child...)
	}
	return appendTLV(nil, tag, content), rest, nil
}

// appendTLV appends tag, the minimal DER length of content, and content.
func appendTLV(dst, tag, content []byte) []byte {
	dst = append(dst, tag...)
	n := len(content)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xff:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, content...)
}
