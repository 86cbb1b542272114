// Package dirimport fills the recipient channel directory from outside
// sources and writes it back out.
//
// It owns two parsers of outside input, each turning a file into Items (one
// directory entry, or the rows that could not become one, and why):
//
//   - NPPES reads the CMS NPPES Endpoint file (endpoint_pfile_*.csv) as a
//     stream, never holding the whole file, and merges adjacent rows of one
//     NPI into the entry "npi-<NPI>" with its Direct address and FHIR base URL.
//   - FHIRBundle reads a FHIR R4 Bundle in the style of the Da Vinci Plan-Net
//     directory (Organization, Location, Practitioner, PractitionerRole,
//     Endpoint) and orders the entries parents first.
//
// Apply writes Items through gateway.Service, one Service call (one
// transaction, one audit event) per entry, so a broken row is reported in
// Summary.Skipped and never stops the others or leaves half an entry.
// Re-importing the same file changes nothing. ExportFHIR writes the
// directory as a Bundle that FHIRBundle reads back. Progress draws the
// command line's progress bar.
//
// The package must not write to the store directly (only through the
// Service, so every change is validated and audited), must not import the
// fhir channel packages (its FHIR JSON structs are its own, small and
// read-only), and never logs: row errors name the row, the field and the
// reason, never more of the row than the identifiers in it.
//
// # Wiring the command line
//
// `gateway directory import --format nppes|fhir FILE` is expected to do:
//
//	f, err := os.Open(file)
//	...
//	var rows dirimport.Rows
//	switch format {
//	case "nppes":
//		rows = dirimport.NPPES(f, dirimport.NPPESOptions{})
//	case "fhir":
//		rows, err = dirimport.FHIRBundle(f) // a malformed bundle fails here
//	}
//	bar := dirimport.NewProgress(stderr, rows.Total, "import")
//	sum, err := dirimport.Apply(ctx, svc, actor, rows, bar.Update)
//	bar.Finish()
//	fmt.Fprintln(stdout, sum) // "added 3, updated 1, unchanged 40, skipped 2" then one line per skipped row
//
// A non-nil error from Apply is fatal (unreadable file, cancelled context,
// store down) and should exit non-zero; skipped rows are not errors, though
// the CLI may choose to exit 1 when len(sum.Skipped) > 0. Export is
// `dirimport.ExportFHIR(ctx, svc, stdout)`.
package dirimport
