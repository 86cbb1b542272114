// Package fax is the gateway's last-resort channel: a BAA-covered cloud fax
// vendor. It holds no code of its own; its subpackages do the work:
//
//   - fax/packet renders the referral packet PDF (cover sheet with the
//     confidentiality and, when it applies, 42 CFR Part 2 notices, then the
//     records).
//   - fax/phaxio is the vendor client (Phaxio API v2.1) and verifies its
//     signed callbacks; fax/faxsim is a local emulator of that API for
//     development, the demo and tests, labelled as an emulator everywhere.
//   - fax/channel is the gateway.Channel; fax/callback handles the vendor's
//     delivery callbacks.
//
// Only channel and callback import the core; the rest stands alone. Vendor
// credentials and PHI never appear in logs.
package fax
