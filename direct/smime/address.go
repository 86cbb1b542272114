package smime

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// checkAddressBinding applies the Direct Applicability Statement's binding
// rule: the certificate is bound to sender when one of its rfc822Name
// subject alternative names is the address (address-bound certificate) or
// one of its dNSName names is the address's domain (domain-bound). Domains
// compare case-insensitively; so do local parts, as HISPs treat them.
func checkAddressBinding(cert *x509.Certificate, sender string) error {
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 || at == len(sender)-1 {
		return fmt.Errorf("%w: sender %q is not an address", ErrAddressMismatch, sender)
	}
	domain := strings.TrimSuffix(sender[at+1:], ".")
	for _, e := range cert.EmailAddresses {
		if strings.EqualFold(e, sender) {
			return nil
		}
	}
	for _, d := range cert.DNSNames {
		if strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
			return nil
		}
	}
	return fmt.Errorf("%w: certificate %q names neither %q nor %q", ErrAddressMismatch,
		cert.Subject.CommonName, sender, domain)
}
