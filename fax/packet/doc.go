// Package packet renders the referral packet that travels by cloud fax: a
// cover sheet (sender, recipient, date, total page count, reason and
// priority, the list of enclosed records, the confidentiality notice and,
// for substance-use-disorder records, the 42 CFR Part 2 redisclosure notice)
// followed by the records themselves, as one PDF.
//
// Drawing uses go-pdf/fpdf; appending PDF records and counting pages uses
// pdfcpu. The package never writes PDF syntax by hand, never logs, and must
// not import the gateway core, fhir or direct: it turns data into pages and
// nothing else. Output is byte-for-byte deterministic for a given Packet
// unless a PDF record is enclosed, in which case pdfcpu stamps the merged
// file's modification date and file ID with the current time.
package packet
