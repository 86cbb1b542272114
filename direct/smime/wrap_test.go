package smime_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/referralgw/gateway/direct/smime"
)

const wrappedMsg = "From: a@direct.a.example\r\nTo: b@direct.b.example\r\nMessage-Id: <w@direct.a.example>\r\n" +
	"Content-Type: text/plain\r\n\r\nSynthetic body =3D text.\r\n"

func TestUnwrap(t *testing.T) {
	tests := []struct {
		name    string
		entity  string
		want    string
		wrapped bool
		wantErr bool
	}{
		{name: "unwrapped passes through", entity: wrappedMsg, want: wrappedMsg},
		{name: "multipart passes through", entity: "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
			want: "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"},
		{name: "7bit", entity: "Content-Type: message/rfc822\r\n\r\n" + wrappedMsg, want: wrappedMsg, wrapped: true},
		{name: "bare LF wrapper", entity: "Content-Type: Message/RFC822\n\n" + wrappedMsg, want: wrappedMsg, wrapped: true},
		{name: "copied header fields on the wrapper are not the message's",
			entity: "From: other@direct.x.example\r\nContent-Type: message/rfc822; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + wrappedMsg,
			want:   wrappedMsg, wrapped: true},
		{name: "base64", entity: "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"RnJvbTogYUBkaXJlY3QuYS5leGFtcGxlDQoNCmJvZHkNCg==\r\n",
			want: "From: a@direct.a.example\r\n\r\nbody\r\n", wrapped: true},
		{name: "quoted-printable", entity: "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"From: a@direct.a.example\r\n\r\nbody =3D x=\r\n end\r\n",
			want: "From: a@direct.a.example\r\n\r\nbody = x end\r\n", wrapped: true},
		{name: "empty wrapped message", entity: "Content-Type: message/rfc822\r\n\r\n\r\n", wantErr: true},
		{name: "unknown encoding", entity: "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n", wantErr: true},
		{name: "no end of header", entity: "Content-Type: message/rfc822", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, wrapped, err := smime.Unwrap([]byte(tt.entity))
			if tt.wantErr {
				if !errors.Is(err, smime.ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if wrapped != tt.wrapped || string(got) != tt.want {
				t.Fatalf("Unwrap = %q, %v; want %q, %v", got, wrapped, tt.want, tt.wrapped)
			}
		})
	}
}

// TestWrapRoundTrip: Wrap puts the copied fields and the message/rfc822
// label on the wrapper, the message byte for byte after the empty line,
// and Unwrap gives the message back.
func TestWrapRoundTrip(t *testing.T) {
	hdr := []byte("From: a@direct.a.example\r\nSubject: Referral\r\n")
	for _, tc := range []struct {
		msg      string
		eightBit bool
	}{{wrappedMsg, false}, {"From: a@direct.a.example\r\n\r\nnon-ASCII \xc3\xa9\r\n", true}} {
		w := smime.Wrap([]byte(tc.msg), hdr)
		want := string(hdr) + "Content-Type: message/rfc822\r\n"
		if tc.eightBit {
			want += "Content-Transfer-Encoding: 8bit\r\n"
		}
		if want += "\r\n" + tc.msg; string(w) != want {
			t.Fatalf("Wrap = %q, want %q", w, want)
		}
		got, wrapped, err := smime.Unwrap(w)
		if err != nil || !wrapped || string(got) != tc.msg {
			t.Fatalf("Unwrap(Wrap) = %q, %v, %v", got, wrapped, err)
		}
	}
}

func FuzzUnwrap(f *testing.F) {
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\n" + wrappedMsg))
	f.Add([]byte("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbQ==\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n"))
	f.Add([]byte(wrappedMsg))
	f.Fuzz(func(t *testing.T, entity []byte) {
		got, wrapped, err := smime.Unwrap(entity)
		switch {
		case err != nil:
			if !errors.Is(err, smime.ErrMalformed) || got != nil || wrapped {
				t.Fatalf("refusal %v with result %q, %v", err, got, wrapped)
			}
		case !wrapped && !bytes.Equal(got, entity):
			t.Fatal("an unwrapped entity came back changed")
		case wrapped && len(bytes.TrimSpace(got)) == 0:
			t.Fatal("an empty wrapped message accepted")
		}
	})
}
