package smart

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// minRSABits is the smallest RSA modulus accepted from a JWKS.
const minRSABits = 2048

// PublicKeyWithKID is one verification key of a JWKS.
type PublicKeyWithKID struct {
	// KID is the JWK "kid", matched against the JWT header's "kid".
	KID string
	// Key is an *rsa.PublicKey or an *ecdsa.PublicKey (P-256 or P-384).
	Key crypto.PublicKey
	// Alg, when not empty, pins the key to one JWS algorithm such as "RS384".
	Alg string
}

// JWKS is a parsed JSON Web Key Set of public verification keys.
type JWKS []PublicKeyWithKID

// Lookup returns the key with the given kid.
func (s JWKS) Lookup(kid string) (PublicKeyWithKID, bool) {
	for _, k := range s {
		if k.KID == kid {
			return k, true
		}
	}
	return PublicKeyWithKID{}, false
}

// jwk is the wire form of one key; only public members are declared, and the
// private ones are listed so that a pasted private key can be refused.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`

	D  string `json:"d,omitempty"`
	P  string `json:"p,omitempty"`
	Q  string `json:"q,omitempty"`
	DP string `json:"dp,omitempty"`
	DQ string `json:"dq,omitempty"`
	QI string `json:"qi,omitempty"`
	K  string `json:"k,omitempty"`
}

type jwksDoc struct {
	Keys []jwk `json:"keys"`
}

// ErrJWKS reports a JWKS document or key this package cannot use.
var ErrJWKS = errors.New("smart: jwks")

// ParseJWKS parses a JWKS document ({"keys":[...]}) holding RSA (at least
// 2048-bit) and EC P-256/P-384 public signing keys. Keys marked "use":"enc"
// are skipped. Every other key must be usable: a missing or duplicate kid, an
// unsupported key type or curve, an off-curve point, an "alg" that does not
// fit the key, or any private key member fails the whole document, so an
// administrator learns of the mistake when registering the client.
func ParseJWKS(data []byte) (JWKS, error) {
	var doc jwksDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrJWKS, err)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("%w: no \"keys\" array", ErrJWKS)
	}
	var out JWKS
	kids := make(map[string]bool)
	for i, k := range doc.Keys {
		if k.Use == "enc" {
			continue
		}
		key, err := parseJWK(k)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d (kid %q): %w", ErrJWKS, i, k.Kid, err)
		}
		if kids[key.KID] {
			return nil, fmt.Errorf("%w: key %d: duplicate kid %q", ErrJWKS, i, key.KID)
		}
		kids[key.KID] = true
		out = append(out, key)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no signing keys", ErrJWKS)
	}
	return out, nil
}

func parseJWK(k jwk) (PublicKeyWithKID, error) {
	if k.D != "" || k.P != "" || k.Q != "" || k.DP != "" || k.DQ != "" || k.QI != "" || k.K != "" {
		return PublicKeyWithKID{}, errors.New("contains private or symmetric key material")
	}
	if k.Kid == "" {
		return PublicKeyWithKID{}, errors.New("missing kid")
	}
	if k.Use != "" && k.Use != "sig" {
		return PublicKeyWithKID{}, fmt.Errorf("unsupported use %q", k.Use)
	}
	var (
		pub crypto.PublicKey
		err error
	)
	switch k.Kty {
	case "RSA":
		pub, err = parseRSAJWK(k)
	case "EC":
		pub, err = parseECJWK(k)
	default:
		return PublicKeyWithKID{}, fmt.Errorf("unsupported kty %q", k.Kty)
	}
	if err != nil {
		return PublicKeyWithKID{}, err
	}
	if k.Alg != "" && !algFits(pub, k.Alg) {
		return PublicKeyWithKID{}, fmt.Errorf("alg %q does not fit the %s key", k.Alg, k.Kty)
	}
	return PublicKeyWithKID{KID: k.Kid, Key: pub, Alg: k.Alg}, nil
}

func parseRSAJWK(k jwk) (*rsa.PublicKey, error) {
	nb, err := decodeB64(k.N)
	if err != nil || len(nb) == 0 {
		return nil, fmt.Errorf("bad modulus: %v", err)
	}
	eb, err := decodeB64(k.E)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("bad exponent")
	}
	var e int
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e%2 == 0 {
		return nil, fmt.Errorf("bad exponent %d", e)
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA modulus of %d bits is below %d", n.BitLen(), minRSABits)
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

func parseECJWK(k jwk) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch k.Crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	default:
		return nil, fmt.Errorf("unsupported crv %q", k.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, errX := decodeB64(k.X)
	y, errY := decodeB64(k.Y)
	if errX != nil || errY != nil || len(x) != size || len(y) != size {
		return nil, fmt.Errorf("coordinates must be %d bytes each", size)
	}
	point := make([]byte, 0, 1+2*size)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("point: %w", err)
	}
	return pub, nil
}

// decodeB64 decodes base64url without padding, as JWK requires.
func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// algForKey names the JWS algorithm this package uses with a public key.
func algForKey(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", errors.New("empty RSA key")
		}
		return "RS384", nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "", errors.New("empty EC key")
		}
		switch k.Curve {
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P256():
			return "ES256", nil
		}
		return "", fmt.Errorf("unsupported curve %s", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// algFits reports whether a JWS algorithm can be used with a public key:
// RS256/RS384/RS512 with RSA, ES256 with P-256, ES384 with P-384.
func algFits(pub crypto.PublicKey, alg string) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k != nil && (alg == "RS256" || alg == "RS384" || alg == "RS512")
	case *ecdsa.PublicKey:
		want, err := algForKey(pub)
		return err == nil && want == alg
	}
	return false
}

// PublicJWKS renders public keys as a JWKS document with "use":"sig" and the
// JWS algorithm each key is used with here (RS384 for RSA unless the entry
// pins another RSA algorithm, ES384 for P-384, ES256 for P-256).
func PublicJWKS(keys ...PublicKeyWithKID) ([]byte, error) {
	doc := jwksDoc{Keys: make([]jwk, 0, len(keys))}
	for i, k := range keys {
		if k.KID == "" {
			return nil, fmt.Errorf("%w: render key %d: missing kid", ErrJWKS, i)
		}
		alg, err := algForKey(k.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: render key %q: %w", ErrJWKS, k.KID, err)
		}
		if k.Alg != "" {
			if !algFits(k.Key, k.Alg) {
				return nil, fmt.Errorf("%w: render key %q: alg %q does not fit the key", ErrJWKS, k.KID, k.Alg)
			}
			alg = k.Alg
		}
		w := jwk{Kid: k.KID, Use: "sig", Alg: alg}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			w.Kty = "RSA"
			w.N = base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
			w.E = base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
		case *ecdsa.PublicKey:
			raw, err := pub.Bytes()
			if err != nil {
				return nil, fmt.Errorf("%w: render key %q: %w", ErrJWKS, k.KID, err)
			}
			size := (len(raw) - 1) / 2
			w.Kty = "EC"
			w.Crv = pub.Curve.Params().Name
			w.X = base64.RawURLEncoding.EncodeToString(raw[1 : 1+size])
			w.Y = base64.RawURLEncoding.EncodeToString(raw[1+size:])
		}
		doc.Keys = append(doc.Keys, w)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: render: %w", ErrJWKS, err)
	}
	return out, nil
}
