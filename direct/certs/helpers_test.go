package certs

import "crypto/x509"

func x509VerifyOpts(ts *TrustStore) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: ts.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
}
