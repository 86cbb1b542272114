package smime

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
)

// nameSignersByIssuer rewrites each SignerInfo of a DER ContentInfo that
// names its signer by subjectKeyIdentifier (RFC 5652 section 5.3, version
// 3, sid [0]) into the issuerAndSerialNumber form (version 1), using the
// certificate with that key identifier among those the message carries.
// The CMS library reads only the latter form. The signature covers the
// signed attributes, not the identifier, so it still verifies; a signer
// whose certificate is not carried is left as it is. der is returned
// unchanged when nothing needs rewriting or it does not parse.
func nameSignersByIssuer(der []byte) []byte {
	out, err := rewriteSignerIDs(der)
	if err != nil || out == nil {
		return der
	}
	return out
}

func rewriteSignerIDs(der []byte) ([]byte, error) {
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue // [0] EXPLICIT SignedData
	}
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, err
	}
	var sdv asn1.RawValue
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sdv); err != nil {
		return nil, err
	}
	fields, err := children(sdv.Bytes)
	if err != nil || len(fields) < 4 {
		return nil, errors.New("signed data: too few fields")
	}
	var carried []*x509.Certificate
	for _, f := range fields {
		if f.Class == asn1.ClassContextSpecific && f.Tag == 0 {
			carried, _ = x509.ParseCertificates(f.Bytes)
		}
	}
	last := &fields[len(fields)-1]
	if last.Tag != asn1.TagSet {
		return nil, errors.New("signed data: no signerInfos")
	}
	infos, err := children(last.Bytes)
	if err != nil {
		return nil, err
	}
	changed := false
	for i := range infos {
		sf, err := children(infos[i].Bytes)
		if err != nil || len(sf) < 2 {
			return nil, errors.New("signer info: malformed")
		}
		sid := sf[1]
		if sid.Class != asn1.ClassContextSpecific || sid.Tag != 0 {
			continue
		}
		var cert *x509.Certificate
		for _, c := range carried {
			if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, sid.Bytes) {
				cert = c
			}
		}
		if cert == nil {
			continue
		}
		ias, err := asn1.Marshal(struct {
			Issuer asn1.RawValue
			Serial *big.Int
		}{asn1.RawValue{FullBytes: cert.RawIssuer}, cert.SerialNumber})
		if err != nil {
			return nil, err
		}
		version, _ := asn1.Marshal(1)
		sf[0], sf[1] = asn1.RawValue{FullBytes: version}, asn1.RawValue{FullBytes: ias}
		if infos[i], err = wrap(asn1.TagSequence, asn1.ClassUniversal, sf); err != nil {
			return nil, err
		}
		changed = true
	}
	if !changed {
		return nil, nil
	}
	if *last, err = wrap(asn1.TagSet, asn1.ClassUniversal, infos); err != nil {
		return nil, err
	}
	sd, err := wrap(asn1.TagSequence, asn1.ClassUniversal, fields)
	if err != nil {
		return nil, err
	}
	content, err := wrap(0, asn1.ClassContextSpecific, []asn1.RawValue{sd})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}{ci.Type, content})
}

// children splits the contents of a constructed value into its elements.
func children(b []byte) ([]asn1.RawValue, error) {
	var out []asn1.RawValue
	for len(b) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(b, &v)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

// wrap encodes elements as one constructed value of the given tag.
func wrap(tag, class int, elems []asn1.RawValue) (asn1.RawValue, error) {
	var body []byte
	for _, e := range elems {
		if e.FullBytes != nil {
			body = append(body, e.FullBytes...)
			continue
		}
		b, err := asn1.Marshal(e)
		if err != nil {
			return asn1.RawValue{}, err
		}
		body = append(body, b...)
	}
	full, err := asn1.Marshal(asn1.RawValue{Class: class, Tag: tag, IsCompound: true, Bytes: body})
	if err != nil {
		return asn1.RawValue{}, err
	}
	var v asn1.RawValue
	_, err = asn1.Unmarshal(full, &v)
	return v, err
}
