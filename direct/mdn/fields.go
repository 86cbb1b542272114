package mdn

import (
	"bytes"
	"strings"
)

// fieldBlock is one block of "Name: value" lines from a report body, keyed
// by lower-case name; the first occurrence of a name wins.
type fieldBlock map[string]string

// parseFieldBlocks splits a message/disposition-notification or
// message/delivery-status body into its blank-line separated blocks and
// unfolds continuation lines. Lines without a colon are ignored.
func parseFieldBlocks(body []byte) []fieldBlock {
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	var blocks []fieldBlock
	cur := fieldBlock{}
	lastKey := ""
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, cur)
		}
		cur = fieldBlock{}
		lastKey = ""
	}
	for _, line := range strings.Split(string(body), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if lastKey != "" {
				cur[lastKey] += " " + strings.TrimSpace(line)
			}
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				lastKey = ""
				continue
			}
			key := strings.ToLower(strings.TrimSpace(name))
			if _, seen := cur[key]; seen {
				lastKey = ""
				continue
			}
			cur[key] = strings.TrimSpace(value)
			lastKey = key
		}
	}
	flush()
	return blocks
}

// addressValue strips the address-type prefix ("rfc822;") from an
// Original-Recipient, Final-Recipient or similar field.
func addressValue(v string) string {
	if _, addr, ok := strings.Cut(v, ";"); ok {
		v = addr
	}
	return strings.Trim(strings.TrimSpace(v), "<>")
}

// msgID returns the first message id in v without angle brackets.
func msgID(v string) string {
	v = strings.TrimSpace(stripComments(v))
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	if f := strings.Fields(v); len(f) > 0 {
		return f[0]
	}
	return ""
}
