package smime

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// Object identifiers of the CMS structures and algorithms this package
// writes or reads (RFC 5652, RFC 3565, RFC 4055, RFC 8017).
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAESOAEP     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidAES128CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAES128GCM     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	oidAES256GCM     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}

	oidAuthEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}
)

// contentInfo is the outer CMS wrapper (RFC 5652 section 3).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

// envelopedDataOut is EnvelopedData as we write it: version 0, no
// originator info, key transport recipients identified by issuer and serial.
type envelopedDataOut struct {
	Version              int
	RecipientInfos       []keyTransRecipientInfo `asn1:"set"`
	EncryptedContentInfo encryptedContentInfo
}

// authEnvelopedDataOut is AuthEnvelopedData (RFC 5083) as we write it: no
// originator info and no authenticated attributes, so the GCM AAD is empty.
type authEnvelopedDataOut struct {
	Version                  int
	RecipientInfos           []keyTransRecipientInfo `asn1:"set"`
	AuthEncryptedContentInfo encryptedContentInfo
	MAC                      []byte
}

// gcmParameters is GCMParameters (RFC 5084 section 3.2).
type gcmParameters struct {
	Nonce  []byte
	ICVLen int `asn1:"optional,default:12"`
}

type keyTransRecipientInfo struct {
	Version                int
	RID                    asn1.RawValue
	KeyEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedKey           []byte
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           asn1.RawValue `asn1:"optional"`
}

// rsaesOAEPParams is RSAES-OAEP-params (RFC 4055 section 4.1) without the
// pSourceFunc, which we always leave at its empty-label default.
type rsaesOAEPParams struct {
	HashFunc    pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MaskGenFunc pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
	PSourceFunc asn1.RawValue            `asn1:"optional,explicit,tag:2"`
}

// recipient is one key transport RecipientInfo found in a parsed envelope.
type recipient struct {
	issuer       []byte // raw DER issuer Name; nil for a subjectKeyIdentifier rid
	ski          []byte // the subjectKeyIdentifier rid; nil for issuer and serial
	serial       *big.Int
	keyAlg       pkix.AlgorithmIdentifier
	encryptedKey []byte
}

// envelope is a parsed EnvelopedData.
type envelope struct {
	recipients []recipient
	contentAlg pkix.AlgorithmIdentifier
	ciphertext []byte
	// For AuthEnvelopedData: the authentication tag and the additional
	// authenticated data (the DER of authAttrs as a SET OF, or empty).
	authenticated bool
	mac, aad      []byte
}

// parseEnvelope decodes a DER ContentInfo holding EnvelopedData or
// AuthEnvelopedData. Recipient infos other than key transport (key
// agreement, KEK, password) are skipped.
func parseEnvelope(der []byte) (*envelope, error) {
	var ci contentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil {
		return nil, fmt.Errorf("content info: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("content info: trailing data")
	}
	env := &envelope{}
	switch {
	case ci.ContentType.Equal(oidEnvelopedData):
	case ci.ContentType.Equal(oidAuthEnvelopedData):
		env.authenticated = true
	default:
		return nil, fmt.Errorf("content type %v is not enveloped-data: %w", ci.ContentType, ErrNotEncrypted)
	}
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &seq); err != nil || len(rest) != 0 ||
		seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence {
		return nil, errors.New("enveloped-data: not a SEQUENCE")
	}
	fields, err := rawElements(seq.Bytes)
	if err != nil {
		return nil, fmt.Errorf("enveloped-data: %w", err)
	}
	i := 1 // fields[0] is the version
	if len(fields) > i && fields[i].Class == asn1.ClassContextSpecific && fields[i].Tag == 0 {
		i++ // originatorInfo
	}
	if len(fields) < i+2 {
		return nil, errors.New("enveloped-data: missing fields")
	}
	if fields[i].Class != asn1.ClassUniversal || fields[i].Tag != asn1.TagSet {
		return nil, errors.New("enveloped-data: recipientInfos is not a SET")
	}
	infos, err := rawElements(fields[i].Bytes)
	if err != nil {
		return nil, fmt.Errorf("recipient infos: %w", err)
	}
	for _, ri := range infos {
		if ri.Class != asn1.ClassUniversal || ri.Tag != asn1.TagSequence {
			continue
		}
		var ktri keyTransRecipientInfo
		if rest, err := asn1.Unmarshal(ri.FullBytes, &ktri); err != nil || len(rest) != 0 {
			return nil, errors.New("recipient info: malformed key transport recipient")
		}
		r := recipient{keyAlg: ktri.KeyEncryptionAlgorithm, encryptedKey: ktri.EncryptedKey}
		if ktri.RID.Class == asn1.ClassUniversal && ktri.RID.Tag == asn1.TagSequence {
			var ias issuerAndSerial
			if rest, err := asn1.Unmarshal(ktri.RID.FullBytes, &ias); err != nil || len(rest) != 0 || ias.Serial == nil {
				return nil, errors.New("recipient info: malformed issuerAndSerialNumber")
			}
			r.issuer, r.serial = ias.Issuer.FullBytes, ias.Serial
		} else if ktri.RID.Class == asn1.ClassContextSpecific && ktri.RID.Tag == 0 && !ktri.RID.IsCompound {
			r.ski = ktri.RID.Bytes // [0] IMPLICIT SubjectKeyIdentifier (RFC 5652 section 6.2.1)
		}
		env.recipients = append(env.recipients, r)
	}
	var eci encryptedContentInfo
	if rest, err := asn1.Unmarshal(fields[i+1].FullBytes, &eci); err != nil || len(rest) != 0 {
		return nil, errors.New("encrypted content info: malformed")
	}
	if !eci.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("encrypted content type %v is not data", eci.ContentType)
	}
	ec := eci.EncryptedContent
	if ec.Class != asn1.ClassContextSpecific || ec.Tag != 0 {
		return nil, errors.New("encrypted content info: no encrypted content")
	}
	env.contentAlg = eci.ContentEncryptionAlgorithm
	if !ec.IsCompound {
		env.ciphertext = ec.Bytes
	} else {
		// A constructed [0] holds the ciphertext as a series of OCTET STRINGs.
		chunks, err := rawElements(ec.Bytes)
		if err != nil {
			return nil, fmt.Errorf("encrypted content: %w", err)
		}
		for _, c := range chunks {
			if c.Class != asn1.ClassUniversal || c.Tag != asn1.TagOctetString || c.IsCompound {
				return nil, errors.New("encrypted content: chunk is not an OCTET STRING")
			}
			env.ciphertext = append(env.ciphertext, c.Bytes...)
		}
	}
	if !env.authenticated {
		return env, nil
	}
	i += 2
	if len(fields) > i && fields[i].Class == asn1.ClassContextSpecific && fields[i].Tag == 1 {
		// RFC 5083: the AAD is authAttrs DER-encoded with the SET OF tag.
		env.aad = append([]byte{0x31}, fields[i].FullBytes[1:]...)
		i++
	}
	if len(fields) <= i || fields[i].Class != asn1.ClassUniversal || fields[i].Tag != asn1.TagOctetString || fields[i].IsCompound {
		return nil, errors.New("auth-enveloped-data: missing mac")
	}
	env.mac = fields[i].Bytes
	return env, nil
}

// rawElements splits the contents of a constructed value into its elements.
func rawElements(b []byte) ([]asn1.RawValue, error) {
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
