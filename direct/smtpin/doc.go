// Package smtpin owns the inbound SMTP face of the Direct channel: it
// accepts mail for our own Direct domains only (never an open relay), holds
// connections, sizes and recipients to configured limits, offers STARTTLS,
// and replies 250 only after the message is durably handed to a Spool.
//
// It holds up under hostile clients: a global and a per-address session
// cap answered with 421, an idle timeout on every read (between commands
// and inside DATA) and a hard limit on a session's length, a bound on
// refused recipients per session and per address (no harvesting of
// addresses) and on what a client sends outside a message unanswered (no
// endless discard after a 552), and message bodies streamed to an unlinked
// temporary file through a small buffer within a global byte budget
// (452 4.3.1 beyond it), so neither memory nor transit disk grows with
// message size or the number of sessions.
//
// It does not decrypt, verify, parse or route messages (later stages read
// the spool), must not import the gateway core or another channel, and logs
// only connection metadata and spool ids, never addresses or content.
package smtpin
