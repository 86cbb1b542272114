package schematest

import "testing"

func TestValidatorTellsValidFromInvalid(t *testing.T) {
	v := New(t)
	tests := []struct {
		name  string
		doc   string
		valid bool
	}{
		{"minimal task", `{"resourceType":"Task","status":"requested","intent":"order"}`, true},
		{"unknown status", `{"resourceType":"Task","status":"sleeping","intent":"order"}`, false},
		{"empty value keys", `{"resourceType":"Task","status":"requested","intent":"order","input":[{"type":{"text":"x"},"valueString":"a","valueCode":""}]}`, false},
		{"contained resource checked", `{"resourceType":"Task","status":"requested","intent":"order","contained":[{"resourceType":"Patient","id":"p","gender":"robot"}]}`, false},
		{"unknown element", `{"resourceType":"Patient","nickname":"x"}`, false},
		{"empty string", `{"resourceType":"Patient","birthDate":""}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Check([]byte(tt.doc))
			if (err == nil) != tt.valid {
				t.Errorf("Check = %v, want valid %v", err, tt.valid)
			}
		})
	}
}
