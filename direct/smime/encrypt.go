package smime

import (
	"github.com/referralgw/gateway/direct/certs"

	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// ContentAlgorithm is the symmetric cipher that encrypts the content.
type ContentAlgorithm int

const (
	// AES256CBC is AES-256 in CBC mode, the default and Direct's recommendation.
	AES256CBC ContentAlgorithm = iota
	// AES128CBC is AES-128 in CBC mode, the minimum Direct requires HISPs to accept.
	AES128CBC
	// AES256GCM is AES-256-GCM in AuthEnvelopedData (RFC 5083, RFC 5084,
	// smime-type=authEnveloped-data); only for partners known to read it.
	AES256GCM
	// AES128GCM is AES-128-GCM in AuthEnvelopedData.
	AES128GCM
)

// String returns the algorithm name as openssl and the RFCs spell it.
func (a ContentAlgorithm) String() string {
	switch a {
	case AES256CBC:
		return "AES-256-CBC"
	case AES128CBC:
		return "AES-128-CBC"
	case AES256GCM:
		return "AES-256-GCM"
	case AES128GCM:
		return "AES-128-GCM"
	default:
		return fmt.Sprintf("ContentAlgorithm(%d)", int(a))
	}
}

func (a ContentAlgorithm) authenticated() bool { return a == AES256GCM || a == AES128GCM }

func (a ContentAlgorithm) params() (asn1.ObjectIdentifier, int, error) {
	switch a {
	case AES256CBC:
		return oidAES256CBC, 32, nil
	case AES128CBC:
		return oidAES128CBC, 16, nil
	case AES256GCM:
		return oidAES256GCM, 32, nil
	case AES128GCM:
		return oidAES128GCM, 16, nil
	default:
		return nil, 0, fmt.Errorf("%v: %w", a, ErrUnsupportedAlgorithm)
	}
}

// KeyTransport is how the content key is encrypted for each recipient.
type KeyTransport int

const (
	// RSAPKCS1v15 is rsaEncryption (PKCS#1 v1.5), what HISPs interoperate on.
	RSAPKCS1v15 KeyTransport = iota
	// RSAOAEP is RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017, RFC 4055).
	RSAOAEP
)

// EncryptOptions selects the algorithms of EncryptWith; the zero value is
// AES-256-CBC with PKCS#1 v1.5 key transport.
type EncryptOptions struct {
	Content      ContentAlgorithm
	KeyTransport KeyTransport
}

// Encrypt envelopes entity for recipients with alg and RSA PKCS#1 v1.5 key
// transport, returning an application/pkcs7-mime; smime-type=enveloped-data
// entity with a base64 body (RFC 5751 section 3.3); with a GCM alg it is
// smime-type=authEnveloped-data holding AuthEnvelopedData (RFC 5083).
func Encrypt(entity []byte, recipients []*x509.Certificate, alg ContentAlgorithm) ([]byte, error) {
	return EncryptWith(entity, recipients, EncryptOptions{Content: alg})
}

// EncryptWith is Encrypt with a choice of key transport.
func EncryptWith(entity []byte, recipients []*x509.Certificate, opts EncryptOptions) ([]byte, error) {
	for _, r := range recipients {
		if r == nil {
			continue
		}
		if err := certs.CheckCertKey(r); err != nil {
			return nil, fmt.Errorf("smime: encrypt: %w: %w", ErrWeakKey, err)
		}
	}
	der, err := envelop(entity, recipients, opts)
	if err != nil {
		return nil, fmt.Errorf("smime: encrypt: %w", err)
	}
	var out bytes.Buffer
	out.Grow(len(der)*4/3 + len(der)/38 + 256)
	smimeType := "enveloped-data"
	if opts.Content.authenticated() {
		smimeType = "authEnveloped-data"
	}
	fmt.Fprintf(&out, "Content-Type: application/pkcs7-mime; smime-type=%s; name=smime.p7m\r\n", smimeType)
	out.WriteString("Content-Transfer-Encoding: base64\r\n")
	out.WriteString("Content-Disposition: attachment; filename=smime.p7m\r\n\r\n")
	writeBase64Lines(&out, der)
	return out.Bytes(), nil
}

// envelop builds the DER ContentInfo holding EnvelopedData.
func envelop(content []byte, recipients []*x509.Certificate, opts EncryptOptions) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipients")
	}
	algOID, keyLen, err := opts.Content.params()
	if err != nil {
		return nil, err
	}
	key := make([]byte, keyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	infos := make([]keyTransRecipientInfo, 0, len(recipients))
	for _, rc := range recipients {
		ri, err := keyTransFor(rc, key, opts.KeyTransport)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", rc.Subject.CommonName, err)
		}
		infos = append(infos, ri)
	}
	var (
		inner       []byte
		contentType asn1.ObjectIdentifier
	)
	if opts.Content.authenticated() {
		contentType = oidAuthEnvelopedData
		inner, err = sealGCM(block, algOID, content, infos)
	} else {
		contentType = oidEnvelopedData
		inner, err = sealCBC(block, algOID, content, infos)
	}
	if err != nil {
		return nil, err
	}
	// A RawValue with FullBytes is written verbatim, so the explicit [0]
	// around the inner structure is built here.
	wrapped, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner})
	if err != nil {
		return nil, fmt.Errorf("marshal content info: %w", err)
	}
	return asn1.Marshal(contentInfo{ContentType: contentType, Content: asn1.RawValue{FullBytes: wrapped}})
}

// sealCBC encrypts content with AES-CBC under a random IV into EnvelopedData.
func sealCBC(block cipher.Block, algOID asn1.ObjectIdentifier, content []byte, infos []keyTransRecipientInfo) ([]byte, error) {
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	ciphertext := pad(content, aes.BlockSize)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ciphertext, ciphertext)
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return nil, err
	}
	inner, err := asn1.Marshal(envelopedDataOut{
		Version:        0,
		RecipientInfos: infos,
		EncryptedContentInfo: encryptedContentInfo{
			ContentType:                oidData,
			ContentEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: algOID, Parameters: asn1.RawValue{FullBytes: ivDER}},
			EncryptedContent:           asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: ciphertext},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("marshal enveloped-data: %w", err)
	}
	return inner, nil
}

// sealGCM encrypts content with AES-GCM (12-byte random nonce, 16-byte tag,
// no authenticated attributes) into AuthEnvelopedData.
func sealGCM(block cipher.Block, algOID asn1.ObjectIdentifier, content []byte, infos []keyTransRecipientInfo) ([]byte, error) {
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sealed := aead.Seal(nil, nonce, content, nil)
	tagAt := len(sealed) - aead.Overhead()
	params, err := asn1.Marshal(gcmParameters{Nonce: nonce, ICVLen: aead.Overhead()})
	if err != nil {
		return nil, err
	}
	inner, err := asn1.Marshal(authEnvelopedDataOut{
		Version:        0,
		RecipientInfos: infos,
		AuthEncryptedContentInfo: encryptedContentInfo{
			ContentType:                oidData,
			ContentEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: algOID, Parameters: asn1.RawValue{FullBytes: params}},
			EncryptedContent:           asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: sealed[:tagAt]},
		},
		MAC: sealed[tagAt:],
	})
	if err != nil {
		return nil, fmt.Errorf("marshal auth-enveloped-data: %w", err)
	}
	return inner, nil
}

// keyTransFor encrypts the content key for one recipient certificate.
func keyTransFor(rc *x509.Certificate, key []byte, kt KeyTransport) (keyTransRecipientInfo, error) {
	pub, ok := rc.PublicKey.(*rsa.PublicKey)
	if !ok {
		return keyTransRecipientInfo{}, fmt.Errorf("certificate key %T is not RSA: %w", rc.PublicKey, ErrUnsupportedAlgorithm)
	}
	if rc.KeyUsage != 0 && rc.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		return keyTransRecipientInfo{}, errors.New("certificate key usage does not allow keyEncipherment")
	}
	var (
		alg pkix.AlgorithmIdentifier
		enc []byte
		err error
	)
	switch kt {
	case RSAPKCS1v15:
		alg = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
		//lint:ignore SA1019 sent only when the caller asks for PKCS #1 v1.5, for peers that cannot open RSAES-OAEP.
		enc, err = rsa.EncryptPKCS1v15(rand.Reader, pub, key)
	case RSAOAEP:
		params, perr := oaepSHA256Params()
		if perr != nil {
			return keyTransRecipientInfo{}, perr
		}
		alg = pkix.AlgorithmIdentifier{Algorithm: oidRSAESOAEP, Parameters: asn1.RawValue{FullBytes: params}}
		enc, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, key, nil)
	default:
		return keyTransRecipientInfo{}, fmt.Errorf("key transport %d: %w", kt, ErrUnsupportedAlgorithm)
	}
	if err != nil {
		return keyTransRecipientInfo{}, fmt.Errorf("encrypt content key: %w", err)
	}
	rid, err := asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: rc.RawIssuer}, Serial: rc.SerialNumber})
	if err != nil {
		return keyTransRecipientInfo{}, fmt.Errorf("marshal recipient id: %w", err)
	}
	return keyTransRecipientInfo{Version: 0, RID: asn1.RawValue{FullBytes: rid}, KeyEncryptionAlgorithm: alg, EncryptedKey: enc}, nil
}

// oaepSHA256Params encodes RSAES-OAEP-params naming SHA-256 and MGF1 with SHA-256.
func oaepSHA256Params() ([]byte, error) {
	sha256ID := pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	mgfParam, err := asn1.Marshal(sha256ID)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(rsaesOAEPParams{
		HashFunc:    sha256ID,
		MaskGenFunc: pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: mgfParam}},
	})
}

// pad appends PKCS#7 padding (RFC 5652 section 6.3) into a new slice.
func pad(b []byte, blockSize int) []byte {
	n := blockSize - len(b)%blockSize
	out := make([]byte, len(b)+n)
	copy(out, b)
	for i := len(b); i < len(out); i++ {
		out[i] = byte(n)
	}
	return out
}

// unpad strips and checks PKCS#7 padding.
func unpad(b []byte, blockSize int) ([]byte, error) {
	if len(b) == 0 || len(b)%blockSize != 0 {
		return nil, errors.New("ciphertext is not a whole number of blocks")
	}
	n := int(b[len(b)-1])
	if n == 0 || n > blockSize {
		return nil, errors.New("bad padding")
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, errors.New("bad padding")
		}
	}
	return b[:len(b)-n], nil
}
