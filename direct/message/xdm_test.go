package message

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestComposeXDM(t *testing.T) {
	m := sampleOutbound()
	m.XDM = true
	m.Part2Notice = true
	m.Attachments = append(m.Attachments, Attachment{Filename: "letter & notes.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.4 synthetic")})
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var pkg *Attachment
	for i := range in.Attachments {
		if in.Attachments[i].Filename == XDMFilename {
			pkg = &in.Attachments[i]
		}
	}
	if pkg == nil || pkg.ContentType != "application/zip" {
		t.Fatalf("no %s application/zip attachment among %d", XDMFilename, len(in.Attachments))
	}
	zr, err := zip.NewReader(bytes.NewReader(pkg.Content), int64(len(pkg.Content)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = b
		names = append(names, f.Name)
	}
	wantNames := "README.TXT,INDEX.HTM,IHE_XDM/SUBSET01/METADATA.XML,IHE_XDM/SUBSET01/DOC00001.XML,IHE_XDM/SUBSET01/DOC00002.PDF"
	if got := strings.Join(names, ","); got != wantNames {
		t.Fatalf("zip entries = %s, want %s", got, wantNames)
	}
	for i, a := range m.Attachments {
		name := []string{"IHE_XDM/SUBSET01/DOC00001.XML", "IHE_XDM/SUBSET01/DOC00002.PDF"}[i]
		if !bytes.Equal(files[name], a.Content) {
			t.Errorf("%s differs from attachment %d", name, i)
		}
	}
	if !strings.Contains(string(files["README.TXT"]), "\r\n42 CFR part 2 prohibits unauthorized use or disclosure of these records.") {
		t.Error("README.TXT lacks the Part 2 notice")
	}

	meta := files["IHE_XDM/SUBSET01/METADATA.XML"]
	if err := wellFormed(meta); err != nil {
		t.Fatalf("METADATA.XML is not well-formed XML: %v", err)
	}
	sum := sha1.Sum(m.Attachments[1].Content)
	for _, want := range []string{
		"<rim:Value>" + hex.EncodeToString(sum[:]) + "</rim:Value>",
		"<rim:Value>18</rim:Value>",
		`<rim:LocalizedString value="letter &amp; notes.pdf"/>`,
		"<rim:Value>||^^Internet^intake@direct.receiver.example</rim:Value>",
		"<rim:Value>20261123093000</rim:Value>",
	} {
		if !bytes.Contains(meta, []byte(want)) {
			t.Errorf("METADATA.XML lacks %s", want)
		}
	}
	if oids := regexp.MustCompile(`value="2\.25\.\d+"`).FindAll(meta, -1); len(oids) != 4 {
		t.Errorf("found %d 2.25 OIDs, want 4 (2 documents, submission set unique and source id)", len(oids))
	}

	golden := filepath.Join("testdata", "xdm_metadata.xml")
	if *update {
		if err := os.WriteFile(golden, meta, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(meta, want) {
		t.Errorf("METADATA.XML differs from %s (run with -update after review)\n%s", golden, meta)
	}
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestDerivedIdentifiers(t *testing.T) {
	u := derivedUUID("seed")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(u) {
		t.Errorf("derivedUUID = %q, not a version 8 RFC 9562 UUID", u)
	}
	if derivedUUID("seed") != u || derivedUUID("other") == u {
		t.Error("derivedUUID is not a deterministic function of its seed")
	}
	if oid := derivedOID("seed"); !strings.HasPrefix(oid, "2.25.") || len(oid) < 10 || len(oid) > 64 {
		t.Errorf("derivedOID = %q", oid)
	}
}
