package message

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr bool
		check   func(t *testing.T, in *Inbound)
	}{
		{
			name: "single part, LF endings, no MDN",
			raw:  "From: a@x.example\nTo: b@y.example, c@y.example\nSubject: hi\nMessage-ID: <m1@x.example>\n\nhello\n",
			check: func(t *testing.T, in *Inbound) {
				if in.Text != "hello\n" || len(in.To) != 2 || in.MessageID != "m1@x.example" || in.MDNRequested() {
					t.Errorf("got %+v", in)
				}
			},
		},
		{
			name: "final delivery option among others",
			raw: "From: a@x.example\r\nDisposition-Notification-To: a@x.example\r\n" +
				"Disposition-Notification-Options: signed-receipt-protocol=optional,pkcs7-signature; X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,true\r\n\r\nbody",
			check: func(t *testing.T, in *Inbound) {
				if !in.FinalDelivery || in.DispositionNotificationTo != "a@x.example" {
					t.Errorf("FinalDelivery=%v DNT=%q", in.FinalDelivery, in.DispositionNotificationTo)
				}
			},
		},
		{
			name: "final delivery false",
			raw:  "From: a@x.example\r\nDisposition-Notification-Options: X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,false\r\n\r\n",
			check: func(t *testing.T, in *Inbound) {
				if in.FinalDelivery {
					t.Error("FinalDelivery true for value false")
				}
			},
		},
		{
			name: "unknown charset and encoding kept raw",
			raw: "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nqapla\r\n" +
				"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: x-weird\r\n\r\nRAW\r\n--b--\r\n",
			check: func(t *testing.T, in *Inbound) {
				if in.Text != "qapla" || len(in.Attachments) != 1 || string(in.Attachments[0].Content) != "RAW" {
					t.Errorf("got text %q attachments %d", in.Text, len(in.Attachments))
				}
			},
		},
		{name: "missing from", raw: "To: b@y.example\r\n\r\nx", wantErr: true},
		{name: "garbage", raw: "\x00\x01not a header", wantErr: true},
		{
			name:    "nesting too deep",
			raw:     "From: a@x.example\r\n" + strings.Repeat("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n", 12),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Parse([]byte(tt.raw))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse error = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, in)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	seed, err := Compose(sampleOutbound())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("From: a@x.example\r\n\r\nbody"))
	f.Add([]byte("From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--"))
	f.Add([]byte("From: =?utf-8?q?=C3=A9?= <a@x.example>\r\nDisposition-Notification-Options: X-DIRECT-FINAL-DESTINATION-DELIVERY\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := Parse(raw)
		if err != nil {
			return
		}
		if in.From == "" {
			t.Fatal("Parse succeeded without a From address")
		}
		if in.FinalDelivery && !strings.Contains(strings.ToUpper(string(raw)), "X-DIRECT-FINAL-DESTINATION-DELIVERY") {
			t.Fatal("FinalDelivery set without the option in the input")
		}
	})
}
