package main

import (
	"flag"
	"os"
	"time"

	"github.com/referralgw/gateway/gateway/httpedge"
)

// edgeConfig is the configuration of a node's edges: the Direct, FHIR and
// fax settings, held in Config.Edges. Defaults come from the environment;
// `serve` registers flags over them.
type edgeConfig struct {
	// PublicURL is the base URL other systems reach this gateway's HTTP
	// face at (SMART issuer, FHIR base, fax callback); empty means
	// "http://" + the HTTP listen address.
	PublicURL string
	// FHIRAllowHTTP lets FHIR pushes and token requests use plain http
	// (loopback development only).
	FHIRAllowHTTP bool
	// AllowPrivateNetworks lets outbound requests (FHIR pushes, token
	// requests, subscription notifications, CRL fetches, the fax API,
	// Direct mail to hosts found by MX lookup) reach loopback, private and link-local addresses for every
	// destination. Development only; in production a directory entry
	// allows its own endpoint (FHIR privateNetwork).
	AllowPrivateNetworks bool
	// FaxAllowHTTP accepts a plain-http fax vendor API URL (development).
	FaxAllowHTTP bool
	// TLSCert and TLSKey are the HTTP face's certificate chain and key
	// (PEM); set, serve speaks HTTPS only and reloads them when they change
	// or on SIGHUP.
	TLSCert, TLSKey string
	// AdminSessionIdle and AdminSessionMax end a console session after so
	// long without a request and so long after sign-in (0: 15m and 12h).
	AdminSessionIdle, AdminSessionMax time.Duration
	// HTTP bounds the HTTP face: timeouts, connection and request caps
	// (zero fields take httpedge's defaults).
	HTTP httpedge.Limits
	// FollowEvery is how often pushed referrals are read back from the
	// receivers' FHIR servers.
	FollowEvery time.Duration
	// VerifyEvery is how often the directory is re-verified: each entry's
	// certificate, FHIR endpoint and fax vendor BAA checked again.
	VerifyEvery time.Duration
	// noRounds leaves the FHIR follow round and directory re-verification
	// unscheduled: the benchmark measures referrals alone, and both rounds
	// run once as soon as a leader is elected, which otherwise falls inside
	// the measured window in some runs and not in others.
	noRounds bool

	// DirectDomain is our Direct domain; Direct is off without it.
	DirectDomain string
	// DirectCerts is a directory as `gateway certs dev` writes it: ca.pem
	// (and anchors/*.pem) are trust anchors, every <name>.pem with a
	// <name>-key.pem beside it is one of our identities.
	DirectCerts string
	// SMTPAddr is where inbound Direct mail is accepted.
	SMTPAddr string
	// SMTPMaxMessageMB caps an inbound message, in MiB (0: the
	// listener's default, 64).
	SMTPMaxMessageMB int
	// SMTPMaxSessions and SMTPMaxSessionsPerAddr cap concurrent inbound
	// sessions in all and from one client address (0: 100 and 20).
	SMTPMaxSessions, SMTPMaxSessionsPerAddr int
	// SMTPReceiveBudgetMB caps the inbound message bodies being received
	// at once, in MiB (0: the listener's default, 1024).
	SMTPReceiveBudgetMB int
	// Smarthost, when set, receives all outbound Direct mail; otherwise
	// the recipient domain's MX is looked up.
	Smarthost string
	// SMTPTLSCert and SMTPTLSKey are the STARTTLS certificate of the SMTP
	// listener; a self-signed one is generated at start when empty.
	SMTPTLSCert, SMTPTLSKey string
	// SMTPTLSRoots is a PEM bundle of roots that outbound STARTTLS
	// certificates are verified against, in addition to the system roots.
	SMTPTLSRoots string
	// SMTPTLSInsecure skips verification of the remote STARTTLS
	// certificate. Development only: it gives up protection against an
	// active attacker on the path (the message itself stays encrypted).
	SMTPTLSInsecure bool
	// DNSServer answers certificate discovery (DNS CERT) queries, host:port;
	// empty turns discovery off (certificates must be in the directory).
	DNSServer string
	// NoLDAP turns LDAP certificate discovery (SRV _ldap._tcp, after DNS
	// CERT) off; LDAPTimeout bounds the exchange with one LDAP server
	// (certs.DefaultLDAPTimeout when zero).
	NoLDAP      bool
	LDAPTimeout time.Duration
	// DiscoveryTTL is how long a discovery's outcome is reused
	// (channel.DefaultDiscoveryTTL when zero); AIATTL how long an
	// intermediate fetched through an AIA link is (certs.DefaultAIATTL).
	DiscoveryTTL, AIATTL time.Duration
	// ProcessedWithin and DispatchedWithin are the gateway's MDN deadlines
	// (channel.DefaultProcessedWithin and DefaultDispatchedWithin when
	// zero); a directory entry's own deadlines override them.
	ProcessedWithin, DispatchedWithin time.Duration
	// TrustBundle is a P7B trust bundle (file or http(s) URL) whose
	// anchors are trusted beside the certificate directory's; it is
	// loaded at start and refreshed every TrustBundleEvery.
	TrustBundle      string
	TrustBundleEvery time.Duration
	// RevocationPolicy decides inbound mail whose signer's CRL stays
	// unreachable for RevocationRetryFor: "refuse" (default) or "accept".
	RevocationPolicy   string
	RevocationRetryFor time.Duration

	// FaxAPI is the fax vendor's API base URL; fax is off without it.
	FaxAPI string
	// FaxKey, FaxSecret and FaxCallbackToken are the vendor credentials
	// (environment only: GATEWAY_FAX_KEY, _SECRET, _CALLBACK_TOKEN).
	FaxKey, FaxSecret, FaxCallbackToken string
}

// defaultEdgeConfig reads the environment over the built-in defaults.
func defaultEdgeConfig() edgeConfig {
	e := edgeConfig{SMTPAddr: "127.0.0.1:2525", FollowEvery: 30 * time.Second, VerifyEvery: 24 * time.Hour}
	str := map[string]*string{
		"GATEWAY_PUBLIC_URL": &e.PublicURL, "GATEWAY_DIRECT_DOMAIN": &e.DirectDomain, "GATEWAY_DIRECT_CERTS": &e.DirectCerts,
		"GATEWAY_SMTP_ADDR": &e.SMTPAddr, "GATEWAY_SMARTHOST": &e.Smarthost, "GATEWAY_SMTP_TLS_CERT": &e.SMTPTLSCert,
		"GATEWAY_SMTP_TLS_KEY": &e.SMTPTLSKey, "GATEWAY_SMTP_TLS_ROOTS": &e.SMTPTLSRoots, "GATEWAY_DNS": &e.DNSServer, "GATEWAY_DIRECT_TRUST_BUNDLE": &e.TrustBundle,
		"GATEWAY_FAX_API": &e.FaxAPI, "GATEWAY_FAX_KEY": &e.FaxKey, "GATEWAY_FAX_SECRET": &e.FaxSecret,
		"GATEWAY_FAX_CALLBACK_TOKEN": &e.FaxCallbackToken, "GATEWAY_TLS_CERT": &e.TLSCert, "GATEWAY_TLS_KEY": &e.TLSKey,
	}
	for name, p := range str {
		if v := os.Getenv(name); v != "" {
			*p = v
		}
	}
	e.FHIRAllowHTTP = os.Getenv("GATEWAY_FHIR_ALLOW_HTTP") == "true"
	e.AllowPrivateNetworks = os.Getenv("GATEWAY_ALLOW_PRIVATE_NETWORKS") == "true"
	e.FaxAllowHTTP = os.Getenv("GATEWAY_FAX_ALLOW_HTTP") == "true"
	e.SMTPTLSInsecure = os.Getenv("GATEWAY_SMTP_TLS_INSECURE") == "true"
	e.NoLDAP = os.Getenv("GATEWAY_DIRECT_NO_LDAP") == "true"
	return e
}

// register adds the edge flags to fs (credentials stay in the environment).
func (e *edgeConfig) register(fs *flag.FlagSet) {
	e.registerRoute(fs)
	fs.StringVar(&e.PublicURL, "public-url", e.PublicURL, "base URL others reach this gateway at (SMART issuer, FHIR base, fax callback); default http://<--http> (env GATEWAY_PUBLIC_URL)")
	fs.StringVar(&e.TLSCert, "tls-cert", e.TLSCert, "HTTPS certificate chain (PEM) of the HTTP face; reloaded on change or SIGHUP (env GATEWAY_TLS_CERT)")
	fs.StringVar(&e.TLSKey, "tls-key", e.TLSKey, "HTTPS private key (PEM) of the HTTP face (env GATEWAY_TLS_KEY)")
	fs.DurationVar(&e.AdminSessionIdle, "admin-session-idle", e.AdminSessionIdle, "console sessions end after this long without a request (0: 15m)")
	fs.DurationVar(&e.AdminSessionMax, "admin-session-max", e.AdminSessionMax, "console sessions end this long after sign-in, however busy (0: 12h)")
	fs.DurationVar(&e.HTTP.BodyTimeout, "http-body-timeout", e.HTTP.BodyTimeout, "longest time to read one request, body included (0: 2m)")
	fs.IntVar(&e.HTTP.MaxConns, "http-max-conns", e.HTTP.MaxConns, "concurrent HTTP connections; more are answered 503 (0: 1024)")
	fs.IntVar(&e.HTTP.MaxConnsPerAddr, "http-max-conns-per-addr", e.HTTP.MaxConnsPerAddr, "concurrent HTTP connections from one client address; more are answered 429 (0: 64)")
	fs.IntVar(&e.HTTP.MaxInFlightPerAddr, "http-max-requests-per-addr", e.HTTP.MaxInFlightPerAddr, "requests in progress at once from one client address; more are answered 429 (0: 32)")
	fs.BoolVar(&e.AllowPrivateNetworks, "allow-private-networks", e.AllowPrivateNetworks, "DEVELOPMENT ONLY: let outbound requests reach loopback and private addresses; implied by --fhir-allow-http (env GATEWAY_ALLOW_PRIVATE_NETWORKS=true)")
	fs.BoolVar(&e.FaxAllowHTTP, "fax-allow-http", e.FaxAllowHTTP, "DEVELOPMENT ONLY: accept a plain-http --fax-api, sending PDFs and credentials in clear (env GATEWAY_FAX_ALLOW_HTTP=true)")
	fs.DurationVar(&e.FollowEvery, "fhir-follow", e.FollowEvery, "how often pushed referrals are read back from receivers")
	fs.DurationVar(&e.VerifyEvery, "directory-verify", e.VerifyEvery, "how often every directory entry's certificate, FHIR endpoint and fax vendor BAA are checked again")
	fs.StringVar(&e.SMTPAddr, "smtp", e.SMTPAddr, "inbound Direct SMTP listen address (env GATEWAY_SMTP_ADDR)")
	fs.IntVar(&e.SMTPMaxMessageMB, "smtp-max-message-mb", e.SMTPMaxMessageMB, "largest inbound Direct message in MiB; 0: 64 (a 20 MB referral after base64 and S/MIME)")
	fs.IntVar(&e.SMTPMaxSessions, "smtp-max-sessions", e.SMTPMaxSessions, "concurrent inbound SMTP sessions; more are told 421 (0: 100)")
	fs.IntVar(&e.SMTPMaxSessionsPerAddr, "smtp-max-sessions-per-addr", e.SMTPMaxSessionsPerAddr, "concurrent inbound SMTP sessions from one client address (0: 20)")
	fs.IntVar(&e.SMTPReceiveBudgetMB, "smtp-receive-budget-mb", e.SMTPReceiveBudgetMB, "inbound Direct message bodies being received at once, all sessions, in MiB; beyond, 452 4.3.1 (0: 1024)")
	fs.StringVar(&e.Smarthost, "smarthost", e.Smarthost, "host:port receiving all outbound Direct mail; default: MX lookup (env GATEWAY_SMARTHOST)")
	fs.StringVar(&e.SMTPTLSCert, "smtp-tls-cert", e.SMTPTLSCert, "STARTTLS certificate (PEM) of the SMTP listener; default: self-signed at start")
	fs.StringVar(&e.SMTPTLSKey, "smtp-tls-key", e.SMTPTLSKey, "STARTTLS private key (PEM) of the SMTP listener")
	fs.StringVar(&e.SMTPTLSRoots, "smtp-tls-roots", e.SMTPTLSRoots, "PEM roots to trust for outbound STARTTLS besides the system roots")
	fs.BoolVar(&e.SMTPTLSInsecure, "smtp-tls-insecure", e.SMTPTLSInsecure, "DEVELOPMENT ONLY: do not verify the remote STARTTLS certificate (env GATEWAY_SMTP_TLS_INSECURE=true)")
	fs.StringVar(&e.TrustBundle, "direct-trust-bundle", e.TrustBundle, "P7B trust bundle (file or http(s) URL) of further Direct trust anchors, e.g. DirectTrust's (env GATEWAY_DIRECT_TRUST_BUNDLE)")
	fs.DurationVar(&e.TrustBundleEvery, "direct-trust-refresh", e.TrustBundleEvery, "how often the trust bundle is fetched again (0: 24h)")
	fs.StringVar(&e.RevocationPolicy, "direct-revocation-policy", e.RevocationPolicy, "inbound mail whose signer's CRL stays unreachable: refuse (quarantine) or accept (flagged); audited either way")
	fs.DurationVar(&e.ProcessedWithin, "direct-processed-within", e.ProcessedWithin, "how long a sent Direct message waits for its processed MDN, unless its directory entry says otherwise (0: 1h)")
	fs.DurationVar(&e.DispatchedWithin, "direct-dispatched-within", e.DispatchedWithin, "how long after the processed MDN the dispatched one may take, unless the directory entry says otherwise (0: 24h)")
	fs.DurationVar(&e.RevocationRetryFor, "direct-revocation-retry", e.RevocationRetryFor, "how long an unreachable CRL is retried before the policy decides (0: 4h)")
}

// registerRoute adds the edge flags that routing reads: which channels
// this gateway can reach with (Direct domain and certificates, fax API).
// One-shot commands that route register only these.
func (e *edgeConfig) registerRoute(fs *flag.FlagSet) {
	fs.BoolVar(&e.FHIRAllowHTTP, "fhir-allow-http", e.FHIRAllowHTTP, "DEVELOPMENT ONLY: allow plain-http FHIR endpoints and token URLs (env GATEWAY_FHIR_ALLOW_HTTP=true)")
	fs.StringVar(&e.DirectDomain, "direct-domain", e.DirectDomain, "our Direct domain; Direct is off without it (env GATEWAY_DIRECT_DOMAIN)")
	fs.StringVar(&e.DirectCerts, "direct-certs", e.DirectCerts, "`directory` of Direct certificates as written by gateway certs dev (env GATEWAY_DIRECT_CERTS)")
	fs.StringVar(&e.DNSServer, "dns", e.DNSServer, "DNS server (host:port) for Direct certificate discovery; empty: off (env GATEWAY_DNS)")
	fs.BoolVar(&e.NoLDAP, "direct-no-ldap", e.NoLDAP, "discover Direct certificates in DNS CERT only, not in the LDAP directories SRV records name (env GATEWAY_DIRECT_NO_LDAP=true)")
	fs.DurationVar(&e.LDAPTimeout, "direct-ldap-timeout", e.LDAPTimeout, "longest exchange with one LDAP server before the next is tried (0: 5s)")
	fs.DurationVar(&e.DiscoveryTTL, "direct-discovery-ttl", e.DiscoveryTTL, "how long a discovered Direct certificate is reused (0: 10m; a failed discovery 1m)")
	fs.DurationVar(&e.AIATTL, "direct-aia-ttl", e.AIATTL, "how long an intermediate fetched through an AIA link is reused (0: 1h; a failed fetch 5m)")
	fs.StringVar(&e.FaxAPI, "fax-api", e.FaxAPI, "fax vendor API base URL; fax is off without it (env GATEWAY_FAX_API; credentials in GATEWAY_FAX_KEY, GATEWAY_FAX_SECRET, GATEWAY_FAX_CALLBACK_TOKEN)")
}

// privateNetworksOK reports whether outbound requests may reach non-public
// addresses for every destination: the development switches imply it,
// since their endpoints live on loopback.
func (e *edgeConfig) privateNetworksOK() bool {
	return e.AllowPrivateNetworks || e.FHIRAllowHTTP || e.FaxAllowHTTP
}
