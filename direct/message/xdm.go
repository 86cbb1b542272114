package message

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"math/big"
	"mime"
	"strings"
	"time"
)

// XDMFilename names the zip attachment that carries an XDM package.
const XDMFilename = "referral-xdm.zip"

// XDM locations inside the zip (IHE ITI TF-1 16, TF-3 4.3).
const (
	xdmSubset   = "IHE_XDM/SUBSET01/"
	xdmMetadata = xdmSubset + "METADATA.XML"
)

// IHE XDS metadata identifiers (ITI TF-3 4.2.5).
const (
	uuidDocumentEntry    = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
	uuidDocUniqueID      = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
	uuidDocLimited       = "urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85"
	uuidSubmissionSet    = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
	uuidSetUniqueID      = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
	uuidSetSourceID      = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
	uuidSetLimited       = "urn:uuid:5003a9db-8d8d-49e6-bf0c-990e34ac7707"
	objTypeClassify      = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
	objTypeExternalID    = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
	objTypeRegistryPkg   = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
	statusApproved       = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
	associationHasMember = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
)

// xdmDoc is one document placed in the package.
type xdmDoc struct {
	Attachment
	entryUUID string // urn:uuid:...
	uniqueID  string // 2.25.<integer>
	uri       string // file name inside SUBSET01
}

// buildXDM packages the attachments of m as an IHE XDM zip with
// Metadata-Limited XDS metadata. Identifiers are derived from m.MessageID,
// so the same message always yields the same package.
func buildXDM(m *Outbound) ([]byte, error) {
	docs := make([]xdmDoc, len(m.Attachments))
	for i, a := range m.Attachments {
		seed := fmt.Sprintf("%s|doc|%d", m.MessageID, i)
		docs[i] = xdmDoc{
			Attachment: a,
			entryUUID:  "urn:uuid:" + derivedUUID(seed),
			uniqueID:   derivedOID(seed),
			uri:        fmt.Sprintf("DOC%05d.%s", i+1, xdmExtension(a.ContentType)),
		}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := []struct {
		name string
		body []byte
	}{
		{"README.TXT", []byte(xdmReadme(m, len(docs)))},
		{"INDEX.HTM", []byte(xdmIndex(docs))},
		{xdmMetadata, []byte(xdmMetadataXML(m, docs))},
	}
	for _, d := range docs {
		files = append(files, struct {
			name string
			body []byte
		}{xdmSubset + d.uri, d.Content})
	}
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: m.Date.UTC()})
		if err != nil {
			return nil, fmt.Errorf("xdm: add %s: %w", f.name, err)
		}
		if _, err := w.Write(f.body); err != nil {
			return nil, fmt.Errorf("xdm: write %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("xdm: close zip: %w", err)
	}
	return buf.Bytes(), nil
}

// xdmReadme is the human-readable README.TXT; it names the sender and the
// document count, and repeats the Part 2 notice when it applies.
func xdmReadme(m *Outbound, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "IHE XDM package sent by %s on %s.\r\n", senderAddress(m.From), m.Date.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "It holds %d document(s) in %s; INDEX.HTM lists them.\r\n", n, xdmSubset)
	if m.Part2Notice {
		b.WriteString("\r\n" + strings.ReplaceAll(Part2NoticeText, "\n", "\r\n"))
	}
	return b.String()
}

func xdmIndex(docs []xdmDoc) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>XDM package</title></head><body>\r\n<ul>\r\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "<li><a href=\"%s%s\">%s</a></li>\r\n", xdmSubset, d.uri, html.EscapeString(d.Filename))
	}
	b.WriteString("</ul>\r\n</body></html>\r\n")
	return b.String()
}

// xdmMetadataXML renders the ebRIM SubmitObjectsRequest for the package.
func xdmMetadataXML(m *Outbound, docs []xdmDoc) string {
	set := "urn:uuid:" + derivedUUID(m.MessageID+"|set")
	when := m.Date.UTC().Format("20060102150405")
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w(`<?xml version="1.0" encoding="UTF-8"?>`)
	w(`<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">`)
	w(`<rim:RegistryObjectList>`)
	for i, d := range docs {
		mt, _, _ := mime.ParseMediaType(d.ContentType)
		sum := sha1.Sum(d.Content) // XDS hash slot is SHA-1 by definition
		w(`<rim:ExtrinsicObject id="%s" objectType="%s" mimeType="%s" status="%s">`, d.entryUUID, uuidDocumentEntry, xmlAttr(mt), statusApproved)
		slot(w, "creationTime", when)
		slot(w, "hash", hex.EncodeToString(sum[:]))
		slot(w, "size", fmt.Sprint(len(d.Content)))
		slot(w, "URI", d.uri)
		w(`<rim:Name><rim:LocalizedString value="%s"/></rim:Name>`, xmlAttr(d.Filename))
		w(`<rim:Classification id="urn:uuid:%s" classifiedObject="%s" classificationNode="%s" objectType="%s"/>`,
			derivedUUID(fmt.Sprintf("%s|doc|%d|limited", m.MessageID, i)), d.entryUUID, uuidDocLimited, objTypeClassify)
		externalID(w, derivedUUID(fmt.Sprintf("%s|doc|%d|uid", m.MessageID, i)), uuidDocUniqueID, d.entryUUID, d.uniqueID, "XDSDocumentEntry.uniqueId")
		w(`</rim:ExtrinsicObject>`)
	}
	w(`<rim:RegistryPackage id="%s" objectType="%s">`, set, objTypeRegistryPkg)
	slot(w, "submissionTime", when)
	var rcpts []string
	for _, to := range m.To {
		rcpts = append(rcpts, "||^^Internet^"+senderAddress(to))
	}
	slot(w, "intendedRecipient", rcpts...)
	w(`<rim:Classification id="urn:uuid:%s" classifiedObject="%s" classificationNode="%s" objectType="%s"/>`,
		derivedUUID(m.MessageID+"|set|limited"), set, uuidSetLimited, objTypeClassify)
	externalID(w, derivedUUID(m.MessageID+"|set|uid"), uuidSetUniqueID, set, derivedOID(m.MessageID+"|set"), "XDSSubmissionSet.uniqueId")
	externalID(w, derivedUUID(m.MessageID+"|set|source"), uuidSetSourceID, set, sourceOID(m.From), "XDSSubmissionSet.sourceId")
	w(`</rim:RegistryPackage>`)
	w(`<rim:Classification id="urn:uuid:%s" classifiedObject="%s" classificationNode="%s" objectType="%s"/>`,
		derivedUUID(m.MessageID+"|set|node"), set, uuidSubmissionSet, objTypeClassify)
	for i, d := range docs {
		w(`<rim:Association id="urn:uuid:%s" associationType="%s" sourceObject="%s" targetObject="%s">`,
			derivedUUID(fmt.Sprintf("%s|doc|%d|assoc", m.MessageID, i)), associationHasMember, set, d.entryUUID)
		slot(w, "SubmissionSetStatus", "Original")
		w(`</rim:Association>`)
	}
	w(`</rim:RegistryObjectList>`)
	w(`</lcm:SubmitObjectsRequest>`)
	return b.String()
}

func slot(w func(string, ...any), name string, values ...string) {
	w(`<rim:Slot name="%s"><rim:ValueList>`, name)
	for _, v := range values {
		w(`<rim:Value>%s</rim:Value>`, xmlAttr(v))
	}
	w(`</rim:ValueList></rim:Slot>`)
}

func externalID(w func(string, ...any), id, scheme, object, value, name string) {
	w(`<rim:ExternalIdentifier id="urn:uuid:%s" identificationScheme="%s" registryObject="%s" value="%s" objectType="%s">`,
		id, scheme, object, xmlAttr(value), objTypeExternalID)
	w(`<rim:Name><rim:LocalizedString value="%s"/></rim:Name>`, name)
	w(`</rim:ExternalIdentifier>`)
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func xmlAttr(s string) string { return xmlEscaper.Replace(s) }

// derivedUUID returns a name-based UUID (RFC 9562 version 8) for seed.
func derivedUUID(seed string) string {
	u := uuidBytes(seed)
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func uuidBytes(seed string) [16]byte {
	sum := sha256.Sum256([]byte(seed))
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

// derivedOID returns the 2.25 OID (ITU-T X.667) of seed's derived UUID.
func derivedOID(seed string) string {
	u := uuidBytes(seed)
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// sourceOID identifies the sending system by its Direct domain.
func sourceOID(from string) string {
	addr := senderAddress(from)
	_, domain, _ := strings.Cut(addr, "@")
	return derivedOID("source|" + strings.ToLower(domain))
}

func xdmExtension(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/xml", "text/xml":
		return "XML"
	case "application/pdf":
		return "PDF"
	case "image/png":
		return "PNG"
	case "image/jpeg":
		return "JPG"
	case "image/tiff":
		return "TIF"
	case "image/gif":
		return "GIF"
	}
	return "BIN"
}
