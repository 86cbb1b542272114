package smime

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/textproto"
	"strings"
)

// entity is a MIME entity split at the end of its header, with the body kept
// as the exact received bytes.
type entity struct {
	header    textproto.MIMEHeader
	mediaType string
	params    map[string]string
	body      []byte
}

// parseEntity splits raw at the first empty line (CRLF or bare LF) and
// parses the header block and its Content-Type; a missing Content-Type is
// text/plain as RFC 2045 says.
func parseEntity(raw []byte) (*entity, error) {
	end := -1
	for off := 0; off < len(raw); {
		nl := bytes.IndexByte(raw[off:], '\n')
		if nl < 0 {
			break
		}
		line := raw[off : off+nl+1]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			end = off + nl + 1
			break
		}
		off += nl + 1
	}
	if end < 0 {
		return nil, errors.New("no end of header")
	}
	hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw[:end]))).ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("header: %w", err)
	}
	e := &entity{header: hdr, body: raw[end:], mediaType: "text/plain"}
	if ct := hdr.Get("Content-Type"); ct != "" {
		e.mediaType, e.params, err = mime.ParseMediaType(ct)
		if err != nil {
			return nil, fmt.Errorf("content-type: %w", err)
		}
	}
	return e, nil
}

// decodedBody returns the body with its Content-Transfer-Encoding removed;
// S/MIME parts are base64 or binary.
func (e *entity) decodedBody() ([]byte, error) {
	switch cte := strings.ToLower(strings.TrimSpace(e.header.Get("Content-Transfer-Encoding"))); cte {
	case "base64":
		clean := make([]byte, 0, len(e.body))
		for _, b := range e.body {
			switch b {
			case '\r', '\n', ' ', '\t':
			default:
				clean = append(clean, b)
			}
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			return nil, fmt.Errorf("base64 body: %w", err)
		}
		return out[:n], nil
	case "", "binary", "7bit", "8bit":
		return e.body, nil
	default:
		return nil, fmt.Errorf("content-transfer-encoding %q not allowed for S/MIME", cte)
	}
}

// splitMultipart returns the parts of a multipart body as the exact bytes
// between the delimiter lines. Per RFC 2046 the line break that precedes a
// delimiter belongs to the delimiter, not to the part.
func splitMultipart(body []byte, boundary string) ([][]byte, error) {
	if boundary == "" {
		return nil, errors.New("multipart without boundary")
	}
	delim := []byte("--" + boundary)
	var (
		parts     [][]byte
		partStart = -1
		closed    bool
	)
	for off := 0; off < len(body); {
		lineEnd := len(body)
		next := len(body)
		if nl := bytes.IndexByte(body[off:], '\n'); nl >= 0 {
			lineEnd, next = off+nl, off+nl+1
		}
		line := bytes.TrimRight(body[off:lineEnd], "\r")
		if rest, ok := bytes.CutPrefix(line, delim); ok {
			rest = bytes.TrimRight(rest, " \t")
			isClose := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || isClose {
				if partStart >= 0 {
					end := off
					// Drop the line break before the delimiter.
					if end > partStart && body[end-1] == '\n' {
						end--
						if end > partStart && body[end-1] == '\r' {
							end--
						}
					}
					parts = append(parts, body[partStart:end])
				}
				if isClose {
					closed = true
					break
				}
				partStart = next
			}
		}
		off = next
	}
	if !closed {
		return nil, errors.New("multipart without closing delimiter")
	}
	return parts, nil
}

// newBoundary returns a random boundary that does not occur in content.
func newBoundary(content []byte) (string, error) {
	for range 8 {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("boundary: %w", err)
		}
		boundary := "smime-" + hex.EncodeToString(b[:])
		if !bytes.Contains(content, []byte(boundary)) {
			return boundary, nil
		}
	}
	return "", errors.New("boundary: no unique boundary found")
}

// writeBase64Lines writes data base64-encoded in CRLF-terminated lines of 76
// characters, as RFC 2045 requires.
func writeBase64Lines(w *bytes.Buffer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		w.WriteString(enc[:76])
		w.WriteString("\r\n")
		enc = enc[76:]
	}
	if enc != "" {
		w.WriteString(enc)
		w.WriteString("\r\n")
	}
}

// checkCanonical reports an error when entity is not in canonical form
// (every line ending CRLF), which signing requires byte for byte.
func checkCanonical(entity []byte) error {
	for i, b := range entity {
		switch b {
		case '\n':
			if i == 0 || entity[i-1] != '\r' {
				return fmt.Errorf("bare LF at offset %d: entity must use CRLF line endings", i)
			}
		case '\r':
			if i+1 >= len(entity) || entity[i+1] != '\n' {
				return fmt.Errorf("bare CR at offset %d: entity must use CRLF line endings", i)
			}
		}
	}
	return nil
}

// toCRLF converts bare LF line endings to CRLF, the canonical form a sender
// hashed when the message was stored with local line endings.
func toCRLF(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/40)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}
