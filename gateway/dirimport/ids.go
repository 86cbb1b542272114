package dirimport

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxID is the longest entry id (and FHIR id) the gateway accepts.
const maxID = 64

// entryID turns a FHIR resource id into a valid directory entry id: letters,
// digits, '-' and '.', starting with a letter or digit, at most 64 long.
// Valid ids are kept as they are so that an exported directory reads back
// under the same ids; others are mended, and a long one keeps a hash of the
// original so that two ids with the same prefix stay apart.
func entryID(id string) string {
	var b strings.Builder
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), "-.")
	if s == "" {
		s = "x"
	}
	if len(s) > maxID || s != id {
		sum := sha256.Sum256([]byte(id))
		tag := hex.EncodeToString(sum[:4])
		if len(s) > maxID-len(tag)-1 {
			s = s[:maxID-len(tag)-1]
		}
		if s != id {
			s += "-" + tag
		}
	}
	return s
}
