package sqlstore

import (
	"fmt"
	"time"
)

// dbTime scans a timestamp stored either natively (PostgreSQL) or as text
// (SQLite); NULL scans as the zero time.
type dbTime struct{ T *time.Time }

// Scan implements sql.Scanner.
func (d dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.T = time.Time{}
	case time.Time:
		*d.T = v.UTC()
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

func (d dbTime) parse(s string) error {
	for _, layout := range []string{timeText, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			*d.T = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("sqlstore: unparseable time %q", s)
}

// nullString scans NULL as "".
type nullString struct{ S *string }

// Scan implements sql.Scanner.
func (n nullString) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n.S = ""
	case string:
		*n.S = v
	case []byte:
		*n.S = string(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a string", src)
	}
	return nil
}

// nullable maps "" to NULL for optional text columns.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
