package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestApplyPatchRFC6902 runs applyPatch through the behaviours RFC 6902
// specifies (its appendix walks the same ground): each operation, array
// indices and "-", pointer escapes, test's exact comparison, and the
// errors that fail the whole patch.
func TestApplyPatchRFC6902(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string // want "" means the patch must fail
	}{
		{"add a member", `{"a":"x"}`, `[{"op":"add","path":"/b","value":"y"}]`, `{"a":"x","b":"y"}`},
		{"add replaces a member", `{"a":"x"}`, `[{"op":"add","path":"/a","value":"y"}]`, `{"a":"y"}`},
		{"add inserts into an array", `{"a":[1,3]}`, `[{"op":"add","path":"/a/1","value":2}]`, `{"a":[1,2,3]}`},
		{"add appends with -", `{"a":[1]}`, `[{"op":"add","path":"/a/-","value":[2,3]}]`, `{"a":[1,[2,3]]}`},
		{"add past the end", `{"a":[1]}`, `[{"op":"add","path":"/a/2","value":2}]`, ``},
		{"add under a missing parent", `{"a":{}}`, `[{"op":"add","path":"/b/c","value":1}]`, ``},
		{"add a nested object", `{"a":"x"}`, `[{"op":"add","path":"/b","value":{"c":["d"]}}]`, `{"a":"x","b":{"c":["d"]}}`},
		{"remove a member", `{"a":1,"b":2}`, `[{"op":"remove","path":"/b"}]`, `{"a":1}`},
		{"remove an array element", `{"a":[1,2,3]}`, `[{"op":"remove","path":"/a/1"}]`, `{"a":[1,3]}`},
		{"remove a missing member", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, ``},
		{"replace", `{"a":1}`, `[{"op":"replace","path":"/a","value":{"b":2}}]`, `{"a":{"b":2}}`},
		{"replace a missing member", `{"a":1}`, `[{"op":"replace","path":"/b","value":2}]`, ``},
		{"move a member", `{"a":{"b":1},"c":{}}`, `[{"op":"move","from":"/a/b","path":"/c/d"}]`, `{"a":{},"c":{"d":1}}`},
		{"move within an array", `{"a":["w","x","y","z"]}`, `[{"op":"move","from":"/a/1","path":"/a/3"}]`, `{"a":["w","y","z","x"]}`},
		{"move into its own child", `{"a":{"b":{}}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, ``},
		{"copy", `{"a":{"b":1}}`, `[{"op":"copy","from":"/a","path":"/c"}]`, `{"a":{"b":1},"c":{"b":1}}`},
		{"copy without from", `{"a":[]}`, `[{"op":"copy","path":"/a/-"}]`, ``},
		{"move without from", `{"a":{}}`, `[{"op":"move","path":"/b"}]`, ``},
		{"test passes", `{"a":[1,{"b":"c"}]}`, `[{"op":"test","path":"/a","value":[1,{"b":"c"}]}]`, `{"a":[1,{"b":"c"}]}`},
		{"test fails", `{"a":"x"}`, `[{"op":"test","path":"/a","value":"y"}]`, ``},
		{"test tells a string from a number", `{"a":10}`, `[{"op":"test","path":"/a","value":"10"}]`, ``},
		{"escaped pointer", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10},{"op":"replace","path":"/~1","value":8}]`, `{"/":8,"~1":10}`},
		{"unknown members are ignored", `{"a":1}`, `[{"op":"replace","path":"/a","value":2,"xyz":3}]`, `{"a":2}`},
		{"unknown op", `{"a":1}`, `[{"op":"merge","path":"/a","value":2}]`, ``},
		{"no path", `{"a":1}`, `[{"op":"remove"}]`, ``},
		{"leading zero index", `{"a":[1,2]}`, `[{"op":"remove","path":"/a/01"}]`, ``},
		{"a failed operation undoes the earlier ones", `{"a":1}`, `[{"op":"replace","path":"/a","value":2},{"op":"remove","path":"/b"}]`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := applyPatch([]byte(tt.doc), []byte(tt.patch))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("patch applied, giving %s; want an error", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("patch failed: %v", err)
			}
			var got, want any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %s, want %s", out, tt.want)
			}
		})
	}
}
