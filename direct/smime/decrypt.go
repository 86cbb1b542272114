package smime

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
)

// KeyResolver finds our certificate and private key for a CMS recipient
// named by its certificate's raw DER issuer Name and serial number. It
// returns an error when it holds no such key. certs.Keyring implements it.
type KeyResolver interface {
	DecryptionKey(issuer []byte, serial *big.Int) (*x509.Certificate, crypto.Decrypter, error)
}

// SKIKeyResolver is a KeyResolver that also finds a key by the subject key
// identifier of its certificate, the other recipient identifier form of
// RFC 5652. certs.Keyring implements it.
type SKIKeyResolver interface {
	KeyResolver
	DecryptionKeyBySKI(ski []byte) (*x509.Certificate, crypto.Decrypter, error)
}

// Decrypt opens an application/pkcs7-mime enveloped-data entity (a whole
// message or just the entity; only its Content-Type and body are read) with
// the first recipient key that keys holds, and returns the decrypted MIME
// entity. Refusals wrap ErrNotEncrypted, ErrMalformed, ErrNoKey, ErrDecrypt
// or ErrUnsupportedAlgorithm.
func Decrypt(message []byte, keys KeyResolver) ([]byte, error) {
	e, err := parseEntity(message)
	if err != nil {
		return nil, fmt.Errorf("smime: decrypt: %w: %w", ErrMalformed, err)
	}
	if !isPKCS7Mime(e.mediaType) {
		return nil, fmt.Errorf("smime: decrypt: content type %q: %w", e.mediaType, ErrNotEncrypted)
	}
	if st := strings.ToLower(e.params["smime-type"]); st != "" && st != "enveloped-data" && st != "authenveloped-data" {
		return nil, fmt.Errorf("smime: decrypt: smime-type %q: %w", st, ErrNotEncrypted)
	}
	der, err := e.decodedBody()
	if err != nil {
		return nil, fmt.Errorf("smime: decrypt: %w: %w", ErrMalformed, err)
	}
	if der, err = berToDER(der); err != nil {
		return nil, fmt.Errorf("smime: decrypt: %w: %w", ErrMalformed, err)
	}
	env, err := parseEnvelope(der)
	if err != nil {
		return nil, fmt.Errorf("smime: decrypt: %w: %w", ErrMalformed, err)
	}
	plain, err := env.open(keys)
	if err != nil {
		return nil, fmt.Errorf("smime: decrypt: %w", err)
	}
	return plain, nil
}

func isPKCS7Mime(mediaType string) bool {
	return mediaType == "application/pkcs7-mime" || mediaType == "application/x-pkcs7-mime"
}

// open finds a recipient we hold a key for, recovers the content key and
// decrypts the content.
func (env *envelope) open(keys KeyResolver) ([]byte, error) {
	keyLen, gcm, err := env.contentKeyLen()
	if err != nil {
		return nil, err
	}
	for _, r := range env.recipients {
		var (
			dec crypto.Decrypter
			err error
		)
		switch sk, ok := keys.(SKIKeyResolver); {
		case r.issuer != nil:
			_, dec, err = keys.DecryptionKey(r.issuer, r.serial)
		case r.ski != nil && ok:
			_, dec, err = sk.DecryptionKeyBySKI(r.ski)
		default:
			continue
		}
		if err != nil || dec == nil {
			continue
		}
		key, err := unwrapKey(dec, r, keyLen)
		if err != nil {
			return nil, err
		}
		if gcm {
			return env.openGCM(key)
		}
		return env.openCBC(key)
	}
	return nil, fmt.Errorf("%d recipient(s): %w", len(env.recipients), ErrNoKey)
}

// contentKeyLen returns the key size of the content cipher and whether it
// is AES-GCM, which only AuthEnvelopedData may use (RFC 5084 section 1).
func (env *envelope) contentKeyLen() (int, bool, error) {
	alg := env.contentAlg.Algorithm
	switch {
	case !env.authenticated && alg.Equal(oidAES128CBC):
		return 16, false, nil
	case !env.authenticated && alg.Equal(oidAES192CBC):
		return 24, false, nil
	case !env.authenticated && alg.Equal(oidAES256CBC):
		return 32, false, nil
	case env.authenticated && alg.Equal(oidAES128GCM):
		return 16, true, nil
	case env.authenticated && alg.Equal(oidAES256GCM):
		return 32, true, nil
	default:
		return 0, false, fmt.Errorf("content encryption %v: %w", alg, ErrUnsupportedAlgorithm)
	}
}

func (env *envelope) openCBC(key []byte) ([]byte, error) {
	var iv []byte
	if rest, err := asn1.Unmarshal(env.contentAlg.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("%w: content encryption IV", ErrMalformed)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	if len(env.ciphertext) == 0 || len(env.ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext is not a whole number of blocks", ErrDecrypt)
	}
	plain := make([]byte, len(env.ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, env.ciphertext)
	plain, err = unpad(plain, aes.BlockSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return plain, nil
}

func (env *envelope) openGCM(key []byte) ([]byte, error) {
	params := gcmParameters{ICVLen: 12}
	if rest, err := asn1.Unmarshal(env.contentAlg.Parameters.FullBytes, &params); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: GCM parameters", ErrMalformed)
	}
	if len(params.Nonce) != 12 || params.ICVLen < 12 || params.ICVLen > 16 || len(env.mac) != params.ICVLen {
		return nil, fmt.Errorf("%w: GCM nonce or tag length", ErrMalformed)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	aead, err := cipher.NewGCMWithTagSize(block, params.ICVLen)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	sealed := make([]byte, 0, len(env.ciphertext)+len(env.mac))
	sealed = append(append(sealed, env.ciphertext...), env.mac...)
	plain, err := aead.Open(nil, params.Nonce, sealed, env.aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return plain, nil
}

// unwrapKey decrypts the content-encryption key of recipient r.
func unwrapKey(dec crypto.Decrypter, r recipient, keyLen int) ([]byte, error) {
	var opts crypto.DecrypterOpts
	switch alg := r.keyAlg.Algorithm; {
	case alg.Equal(oidRSAEncryption):
		// With SessionKeyLen a bad PKCS#1 block yields a random key instead of
		// an error, so padding failures do not become an oracle (Bleichenbacher);
		// the content then fails to decrypt.
		//lint:ignore SA1019 Direct peers still send PKCS #1 v1.5 key transport; receiving it is required for interop.
		opts = &rsa.PKCS1v15DecryptOptions{SessionKeyLen: keyLen}
	case alg.Equal(oidRSAESOAEP):
		o, err := oaepOptions(r.keyAlg)
		if err != nil {
			return nil, err
		}
		opts = o
	default:
		return nil, fmt.Errorf("key transport %v: %w", alg, ErrUnsupportedAlgorithm)
	}
	key, err := dec.Decrypt(rand.Reader, r.encryptedKey, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: content key: %w", ErrDecrypt, err)
	}
	if len(key) != keyLen {
		return nil, fmt.Errorf("%w: content key has %d bytes, want %d", ErrDecrypt, len(key), keyLen)
	}
	return key, nil
}

// oaepOptions reads RSAES-OAEP-params; absent fields take the SHA-1
// defaults of RFC 4055, and a non-empty label is refused.
func oaepOptions(alg pkix.AlgorithmIdentifier) (*rsa.OAEPOptions, error) {
	params := rsaesOAEPParams{}
	if len(alg.Parameters.FullBytes) > 0 {
		if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("%w: RSAES-OAEP parameters", ErrMalformed)
		}
	}
	if len(params.PSourceFunc.FullBytes) > 0 {
		return nil, fmt.Errorf("OAEP label: %w", ErrUnsupportedAlgorithm)
	}
	hash, err := hashFor(params.HashFunc.Algorithm)
	if err != nil {
		return nil, err
	}
	mgfHash := crypto.SHA1
	if len(params.MaskGenFunc.Algorithm) > 0 {
		if !params.MaskGenFunc.Algorithm.Equal(oidMGF1) {
			return nil, fmt.Errorf("OAEP mask generation %v: %w", params.MaskGenFunc.Algorithm, ErrUnsupportedAlgorithm)
		}
		var mgfAlg pkix.AlgorithmIdentifier
		if rest, err := asn1.Unmarshal(params.MaskGenFunc.Parameters.FullBytes, &mgfAlg); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("%w: MGF1 parameters", ErrMalformed)
		}
		if mgfHash, err = hashFor(mgfAlg.Algorithm); err != nil {
			return nil, err
		}
	}
	return &rsa.OAEPOptions{Hash: hash, MGFHash: mgfHash}, nil
}

// hashFor maps a digest OID to its hash; an empty OID is the SHA-1 default.
func hashFor(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case len(oid) == 0, oid.Equal(oidSHA1):
		return crypto.SHA1, nil
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	default:
		return 0, fmt.Errorf("digest %v: %w", oid, ErrUnsupportedAlgorithm)
	}
}
