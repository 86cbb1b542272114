// Package direct is the gateway's Direct secure messaging face (the Direct
// Project's Applicability Statement for Secure Health Transport). It holds
// no code of its own; its subpackages do the work:
//
//   - direct/message composes and parses the MIME referral message (summary,
//     records as attachments, Part 2 notice, XDM, delivery-notification
//     request headers).
//   - direct/smime signs (CMS detached, SHA-256), encrypts (AES-CBC or
//     AES-GCM, RSA key transport), decrypts and verifies (chain, validity,
//     key usage, CRL revocation, address binding).
//   - direct/certs holds our keys and trust anchors, discovers recipient
//     certificates in DNS (CERT records) and makes development CAs.
//   - direct/mdn builds and parses RFC 8098 MDNs and parses RFC 3464 DSNs.
//   - direct/smtpout sends over SMTP with STARTTLS; direct/smtpin receives,
//     refusing relay, and accepts only what it has durably stored.
//   - direct/channel is the gateway.Channel; direct/inbound stores received
//     mail in the database and processes it as jobs: receipts, replies, the
//     inbox and quarantine states, MDNs back.
//
// Protocol packages (message, smime, certs, mdn, smtpout, smtpin) import
// nothing of the gateway, so they can be tested and reused alone; only
// channel and inbound connect them to the core. Nothing here logs message
// content or PHI.
package direct
