package phaxio

import (
	"errors"
	"testing"
)

func TestNormalizeUS(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: "(555) 234-5678", want: "+15552345678"},
		{in: "555-234-5678", want: "+15552345678"},
		{in: "555.234.5678", want: "+15552345678"},
		{in: "5552345678", want: "+15552345678"},
		{in: "1-555-234-5678", want: "+15552345678"},
		{in: "+1 (555) 234-5678", want: "+15552345678"},
		{in: "+15552345678", want: "+15552345678"},
		{in: "  +1 555 234 5678 ", want: "+15552345678"},
		{in: "", wantErr: ErrNumberEmpty},
		{in: "   ", wantErr: ErrNumberEmpty},
		{in: "555-234-567x", wantErr: ErrNumberCharacters},
		{in: "555/234/5678", wantErr: ErrNumberCharacters},
		{in: "+44 20 7946 0958", wantErr: ErrNumberCountry},
		{in: "+5552345678", wantErr: ErrNumberCountry},
		{in: "234-5678", wantErr: ErrNumberLength},
		{in: "2-555-234-5678", wantErr: ErrNumberLength},
		{in: "+1 555 234 56789", wantErr: ErrNumberLength},
		{in: "+1 555 234 567", wantErr: ErrNumberLength},
		{in: "(055) 234-5678", wantErr: ErrNumberAreaCode},
		{in: "(155) 234-5678", wantErr: ErrNumberAreaCode},
		// The exchange 123 starts with 1, which NANP never assigns.
		{in: "(555) 123-4567", wantErr: ErrNumberExchange},
		{in: "555-023-4567", wantErr: ErrNumberExchange},
		{in: "(911) 234-5678", wantErr: ErrNumberServiceCode},
		{in: "555-411-5678", wantErr: ErrNumberServiceCode},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeUS(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NormalizeUS(%q) = %q, %v; want error %v", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeUS(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
