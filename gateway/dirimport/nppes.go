package dirimport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/referralgw/gateway/gateway"
)

// NPPESOptions tunes how NPPES maps endpoint rows.
type NPPESOptions struct {
	// FHIROnPlatform marks every party with a FHIR endpoint as on-platform.
	// NPPES cannot tell, so the default is off-platform.
	FHIROnPlatform bool
}

// nppesColumns are the columns NPPES reads, by their normalised header
// name (lower case, spaces removed); the first three are required.
var nppesColumns = [numColumns]string{"npi", "endpointtype", "endpoint", "affiliation", "endpointdescription", "affiliationlegalbusinessname"}

const (
	colNPI = iota
	colType
	colEndpoint
	colAffiliation
	colDescription
	colBusinessName
	numColumns
)

// nppesRow is the part of one endpoint row that NPPES uses.
type nppesRow struct {
	line   int
	fields [numColumns]string
}

// NPPES reads the CMS NPPES Endpoint file (endpoint_pfile_*.csv) as a
// stream. Adjacent rows of one NPI become one entry "npi-<NPI>" (the CMS
// file is sorted by NPI; rows of an NPI that come apart yield the entry
// again, and Apply merges it); DIRECT rows give its Direct address and FHIR rows
// its FHIR base URL, other endpoint types are skipped with a reason. A
// missing or unreadable header is fatal; a bad row only skips that row.
func NPPES(r io.Reader, opts NPPESOptions) Rows {
	return Rows{all: func(yield func(Item, error) bool) {
		cr := csv.NewReader(r)
		cr.FieldsPerRecord = -1
		cr.ReuseRecord = true
		header, err := cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("empty file")
			}
			yield(Item{}, fmt.Errorf("nppes: read header: %w", err))
			return
		}
		index, err := nppesHeader(header)
		if err != nil {
			yield(Item{}, fmt.Errorf("nppes: header: %w", err))
			return
		}
		var group []nppesRow
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if len(group) > 0 && !yield(nppesItem(group, opts), nil) {
					return
				}
				group = group[:0]
				if !yield(Item{Row: pe.StartLine, Skipped: []RowError{{pe.StartLine, "csv", pe.Err.Error()}}}, nil) {
					return
				}
				continue
			}
			if err != nil {
				yield(Item{}, fmt.Errorf("nppes: read: %w", err))
				return
			}
			line, _ := cr.FieldPos(0)
			row := nppesRow{line: line}
			for col, i := range index {
				if i >= 0 && i < len(rec) {
					row.fields[col] = strings.TrimSpace(rec[i])
				}
			}
			if len(group) > 0 && group[0].fields[colNPI] != row.fields[colNPI] {
				if !yield(nppesItem(group, opts), nil) {
					return
				}
				group = group[:0]
			}
			group = append(group, row)
		}
		if len(group) > 0 {
			yield(nppesItem(group, opts), nil)
		}
	}}
}

// nppesHeader maps each column NPPES reads to its index in the header.
func nppesHeader(header []string) ([numColumns]int, error) {
	var index [numColumns]int
	for i := range index {
		index[i] = -1
	}
	for i, h := range header {
		h = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(h, "\ufeff"), " ", ""))
		for col, name := range nppesColumns {
			if h == name && index[col] < 0 {
				index[col] = i
			}
		}
	}
	for col := colNPI; col <= colEndpoint; col++ {
		if index[col] < 0 {
			return index, fmt.Errorf("no %q column", nppesColumns[col])
		}
	}
	return index, nil
}

// nppesItem merges the rows of one NPI into an entry.
func nppesItem(rows []nppesRow, opts NPPESOptions) Item {
	first := rows[0]
	npi := first.fields[colNPI]
	it := Item{Row: first.line}
	if !gateway.ValidNPI(npi) {
		for _, r := range rows {
			it.Skipped = append(it.Skipped, RowError{r.line, "NPI", fmt.Sprintf("%q is not a valid NPI (10 digits with a Luhn check digit)", npi)})
		}
		return it
	}
	e := &gateway.Entry{ID: "npi-" + npi, NPI: npi, Kind: gateway.KindPractitioner}
	for _, r := range rows {
		if reason, field := nppesEndpoint(e, r); reason != "" {
			it.Skipped = append(it.Skipped, RowError{r.line, field, reason})
			continue
		}
		// An NPI that reports its own legal business name without an
		// affiliation is an organization (a type 2 NPI); an individual's
		// endpoint names the organization it is affiliated with.
		if name := r.fields[colBusinessName]; name != "" && e.Name == "" {
			if strings.EqualFold(r.fields[colAffiliation], "N") {
				e.Kind = gateway.KindOrganization
				e.Name = name
			}
		}
	}
	if e.Direct == nil && e.FHIR == nil {
		return it
	}
	if e.Name == "" {
		e.Name = placeholderName(npi)
	}
	if opts.FHIROnPlatform && e.FHIR != nil {
		e.OnPlatform = true
	}
	it.Entry = e
	return it
}

// nppesEndpoint sets the endpoint of one row on e, or returns why the row
// is skipped and the column at fault.
func nppesEndpoint(e *gateway.Entry, r nppesRow) (reason, field string) {
	value := r.fields[colEndpoint]
	switch typ := strings.ToUpper(r.fields[colType]); typ {
	case "DIRECT":
		addr := value
		if len(addr) > 7 && strings.EqualFold(addr[:7], "mailto:") {
			addr = addr[7:]
		}
		if err := gateway.ValidateDirectAddress(addr); err != nil {
			return "Direct address " + err.Error(), "Endpoint"
		}
		if e.Direct != nil {
			if e.Direct.Address == addr {
				return "", ""
			}
			return fmt.Sprintf("a second Direct address for NPI %s; the directory keeps one, the first", e.NPI), "Endpoint"
		}
		e.Direct = &gateway.DirectEndpoint{Address: addr}
	case "FHIR":
		u, err := url.Parse(value)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "FHIR endpoint is not an absolute http(s) URL", "Endpoint"
		}
		if e.FHIR != nil {
			if e.FHIR.BaseURL == value {
				return "", ""
			}
			return fmt.Sprintf("a second FHIR endpoint for NPI %s; the directory keeps one, the first", e.NPI), "Endpoint"
		}
		e.FHIR = &gateway.FHIREndpoint{BaseURL: value}
	case "":
		return "no endpoint type", "Endpoint Type"
	default:
		return fmt.Sprintf("endpoint type %q is not imported (only DIRECT and FHIR)", gateway.Truncate(typ, 20)), "Endpoint Type"
	}
	return "", ""
}
