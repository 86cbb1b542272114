package mapping

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEveryPushedEntryIsConditional checks that a resend of a delivery
// can be recognised entry by entry: each entry of the pushed transaction
// carries an If-None-Exist criterion, the criteria of one delivery are the
// same on every render and differ between records, and each resource
// carries what its criterion searches for (the DocumentReference an
// identifier, the Binary a tag).
func TestEveryPushedEntryIsConditional(t *testing.T) {
	r, recs := fixture()
	if len(recs) < 2 {
		t.Fatalf("fixture has %d records, want at least 2", len(recs))
	}
	type entry struct {
		Resource struct {
			ResourceType string `json:"resourceType"`
			Identifier   []struct{ System, Value string }
			Meta         struct {
				Tag []struct{ System, Code string }
			}
		} `json:"resource"`
		Request struct {
			IfNoneExist string `json:"ifNoneExist"`
		} `json:"request"`
	}
	render := func() []entry {
		t.Helper()
		b, err := NewTransaction(r, "dlv-9", recs, nil)
		if err != nil {
			t.Fatal(err)
		}
		var bundle struct{ Entry []entry }
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		return bundle.Entry
	}
	first, again := render(), render()
	seen := map[string]string{}
	for i, e := range first {
		typ, crit := e.Resource.ResourceType, e.Request.IfNoneExist
		if crit == "" {
			t.Errorf("entry %d (%s) is not conditional", i, typ)
			continue
		}
		if crit != again[i].Request.IfNoneExist {
			t.Errorf("entry %d (%s): criterion %q, then %q on a resend", i, typ, crit, again[i].Request.IfNoneExist)
		}
		if prev, dup := seen[typ+" "+crit]; dup {
			t.Errorf("entry %d (%s) shares its criterion with %s", i, typ, prev)
		}
		seen[typ+" "+crit] = typ
		param, value, _ := strings.Cut(crit, "=")
		system, code, _ := strings.Cut(value, "|")
		if system != SystemDelivery || !strings.HasPrefix(code, "dlv-9") {
			t.Errorf("entry %d (%s): criterion %q is not keyed on the delivery", i, typ, crit)
		}
		carried := false
		switch param {
		case "identifier":
			for _, id := range e.Resource.Identifier {
				carried = carried || id.System == system && id.Value == code
			}
		case "_tag":
			for _, tag := range e.Resource.Meta.Tag {
				carried = carried || tag.System == system && tag.Code == code
			}
		}
		if !carried {
			t.Errorf("entry %d (%s) does not carry what %q searches for", i, typ, crit)
		}
	}
}
