package smart

import (
	"errors"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Scope
		wantErr bool
	}{
		{in: "system/Task.read", want: Scope{Resource: "Task", Ops: Read | Search, V1: true}},
		{in: "system/Task.write", want: Scope{Resource: "Task", Ops: Create | Update | Delete, V1: true}},
		{in: "system/*.read", want: Scope{Resource: "*", Ops: Read | Search, V1: true}},
		{in: "system/Patient.*", want: Scope{Resource: "Patient", Ops: Create | Read | Update | Delete | Search, V1: true}},
		{in: "system/Task.rs", want: Scope{Resource: "Task", Ops: Read | Search}},
		{in: "system/Task.u", want: Scope{Resource: "Task", Ops: Update}},
		{in: "system/ServiceRequest.c", want: Scope{Resource: "ServiceRequest", Ops: Create}},
		{in: "system/*.cruds", want: Scope{Resource: "*", Ops: Create | Read | Update | Delete | Search}},
		{in: "system/Consent.cd", want: Scope{Resource: "Consent", Ops: Create | Delete}},
		{in: "system/Task.sr", wantErr: true},   // v2 letters must keep cruds order
		{in: "system/Task.rr", wantErr: true},   // no repeats
		{in: "system/Task.x", wantErr: true},    // unknown letter
		{in: "system/Task.", wantErr: true},     // empty permission
		{in: "system/Task", wantErr: true},      // no permission
		{in: "system/.read", wantErr: true},     // no resource
		{in: "system/task.read", wantErr: true}, // resource types are capitalised
		{in: "system/Task-1.read", wantErr: true},
		{in: "system/Task.rs?category=x", wantErr: true}, // v2 query parameters unsupported
		{in: "patient/Task.read", wantErr: true},
		{in: "user/*.cruds", wantErr: true},
		{in: "openid", wantErr: true},
		{in: "launch/patient", wantErr: true},
		{in: "", wantErr: true},
		{in: "system/Task.READ", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrScopeSyntax) {
					t.Fatalf("ParseScope(%q) = %+v, %v; want ErrScopeSyntax", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseScope(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("String() = %q, want round trip to %q", s, tt.in)
			}
		})
	}
}

func TestScopeString(t *testing.T) {
	tests := []struct {
		scope Scope
		want  string
	}{
		{Scope{Resource: "Task", Ops: Read | Search, V1: true}, "system/Task.read"},
		{Scope{Resource: "Task", Ops: Read, V1: true}, "system/Task.r"}, // not a v1 set: v2 form
		{Scope{Resource: "*", Ops: Search | Create}, "system/*.cs"},
		{Scope{Resource: "Task", Ops: Read | Search}, "system/Task.rs"},
	}
	for _, tt := range tests {
		if got := tt.scope.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.scope, got, tt.want)
		}
	}
}

func TestPrincipalAllows(t *testing.T) {
	mustScopes := func(s string) []Scope {
		t.Helper()
		out, err := ParseScopes(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		scopes   string
		resource string
		op       Op
		want     bool
	}{
		{"system/Task.read", "Task", Read, true},
		{"system/Task.read", "Task", Search, true},
		{"system/Task.read", "Task", Update, false},
		{"system/Task.read", "ServiceRequest", Read, false},
		{"system/Task.write", "Task", Create, true},
		{"system/Task.write", "Task", Update, true},
		{"system/Task.write", "Task", Delete, true},
		{"system/Task.write", "Task", Read, false},
		{"system/*.read", "Patient", Read, true},
		{"system/*.read", "Patient", Create, false},
		{"system/Task.u", "Task", Update, true},
		{"system/Task.u", "Task", Read, false},
		{"system/ServiceRequest.c", "ServiceRequest", Create, true},
		{"system/ServiceRequest.c", "Task", Create, false},
		{"system/*.cruds", "Consent", Delete, true},
		{"system/Task.rs system/ServiceRequest.c", "ServiceRequest", Create, true},
		{"system/Task.rs system/ServiceRequest.c", "ServiceRequest", Read, false},
		{"system/Task.rs", "Task", Read | Search, true},
		{"system/Task.r", "Task", Read | Search, false},
		{"system/Task.cruds", "Task", 0, false},
		{"", "Task", Read, false},
		{"system/*.rs", "*", Read, true},
	}
	for _, tt := range tests {
		p := Principal{ClientID: "c", OrgID: "o", Scopes: mustScopes(tt.scopes)}
		if got := p.Allows(tt.resource, tt.op); got != tt.want {
			t.Errorf("%q Allows(%s, %s) = %v, want %v", tt.scopes, tt.resource, tt.op, got, tt.want)
		}
	}
}

func TestParseScopesStrict(t *testing.T) {
	if _, err := ParseScopes("system/Task.rs openid"); !errors.Is(err, ErrScopeSyntax) {
		t.Errorf("ParseScopes with openid: err = %v, want ErrScopeSyntax", err)
	}
	got, err := ParseScopes("  system/Task.rs   system/*.read ")
	if err != nil || len(got) != 2 || FormatScopes(got) != "system/Task.rs system/*.read" {
		t.Errorf("ParseScopes = %v, %v", got, err)
	}
}

func TestGrantScopes(t *testing.T) {
	tests := []struct {
		name      string
		requested string
		allowed   []string
		want      string
	}{
		{"intersection of ops", "system/Task.cruds", []string{"system/Task.rs"}, "system/Task.rs"},
		{"wildcard allowed", "system/Task.cu", []string{"system/*.cruds"}, "system/Task.cu"},
		{"wildcard requested", "system/*.r", []string{"system/Task.rs", "system/Patient.s"}, "system/Task.r"},
		{"both wildcards", "system/*.read", []string{"system/*.rs"}, "system/*.read"},
		{"duplicates collapse", "system/Task.r system/Task.r", []string{"system/Task.rs"}, "system/Task.r"},
		{"bad allowed ignored", "system/Task.r", []string{"garbage", "system/Task.r"}, "system/Task.r"},
		{"none", "system/Task.d", []string{"system/Task.rs"}, ""},
		{"empty request", "", []string{"system/*.cruds"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatScopes(grantScopes(tt.requested, tt.allowed)); got != tt.want {
				t.Errorf("grantScopes(%q, %q) = %q, want %q", tt.requested, tt.allowed, got, tt.want)
			}
		})
	}
}
