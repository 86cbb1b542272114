// Package smtpin owns the inbound SMTP face of the Direct channel: it
// accepts mail for our own Direct domains only (never an open relay), holds
// connections, sizes and recipients to configured limits, offers STARTTLS,
// and replies 250 only after the message is durably handed to a Spool.
//
// It does not decrypt, verify, parse or route messages (later stages read
// the spool), must not import the gateway core or another channel, and logs
// only connection metadata and spool ids, never addresses or content.
package smtpin
