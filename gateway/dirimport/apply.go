package dirimport

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/referralgw/gateway/gateway"
)

// Apply writes the items of rows to the directory through svc, in order:
// a new entry is added, an existing one is updated in place (see merge) and
// one that would not change is counted as unchanged, so importing the same
// source twice changes nothing. Each entry is one Service call, one
// transaction: a row the Service refuses is added to Summary.Skipped and
// the import goes on. progress, when not nil, is called after each item
// with the items done and rows.Total. The error is fatal only: the source
// could not be read, ctx ended, or the store failed.
func Apply(ctx context.Context, svc *gateway.Service, actor gateway.Actor, rows Rows, progress func(done, total int)) (Summary, error) {
	var sum Summary
	done := 0
	seen := map[string]bool{} // ids written (or found) earlier in this run
	for it, err := range rows.All() {
		if err != nil {
			return sum, fmt.Errorf("dirimport: apply: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("dirimport: apply: %w", err)
		}
		sum.Skipped = append(sum.Skipped, it.Skipped...)
		if it.Entry != nil {
			if err := applyEntry(ctx, svc, actor, it, seen[it.Entry.ID], &sum); err != nil {
				return sum, err
			}
			seen[it.Entry.ID] = true
		}
		done++
		if progress != nil {
			progress(done, rows.Total)
		}
	}
	return sum, nil
}

// applyEntry writes one entry and counts the outcome. Refusals of the
// entry are row errors; only failures of the store are returned. again
// says the id came up earlier in this run (an NPI whose rows are not
// adjacent): then the item only adds endpoints the entry lacks, and the
// first wins, so that importing the same file twice stays a no-op.
func applyEntry(ctx context.Context, svc *gateway.Service, actor gateway.Actor, it Item, again bool, sum *Summary) error {
	in := *it.Entry
	old, err := svc.Entry(ctx, in.ID)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		in.Version = 0
		in.Verification = nil
		if _, err := svc.PutEntry(ctx, actor, &in); err != nil {
			return rowFailure(it.Row, err, sum)
		}
		sum.Added++
		return nil
	case err != nil:
		return fmt.Errorf("dirimport: apply row %d: %w", it.Row, err)
	}
	var next *gateway.Entry
	if again {
		next = fill(old, &in, it.Row, sum)
	} else {
		next = merge(old, &in)
	}
	if sameEntry(old, next) {
		sum.Unchanged++
		return nil
	}
	if _, err := svc.PutEntry(ctx, actor, next); err != nil {
		return rowFailure(it.Row, err, sum)
	}
	sum.Updated++
	return nil
}

// rowFailure records a refusal of one entry (invalid field, unknown
// parent, concurrent edit) as a row error, and returns any other error.
func rowFailure(row int, err error, sum *Summary) error {
	var ve *gateway.ValidationError
	var ves gateway.ValidationErrors
	switch {
	case errors.As(err, &ves):
		for _, v := range ves {
			sum.Skipped = append(sum.Skipped, RowError{row, v.Field, v.Reason})
		}
	case errors.As(err, &ve):
		sum.Skipped = append(sum.Skipped, RowError{row, ve.Field, ve.Reason})
	case errors.Is(err, gateway.ErrConflict):
		sum.Skipped = append(sum.Skipped, RowError{row, "version", "the entry changed during the import; import again"})
	default:
		return fmt.Errorf("dirimport: apply row %d: %w", row, err)
	}
	return nil
}

// merge is old updated with what the import knows. The import sets kind,
// name and kind (unless the name is only NPPES's placeholder), NPI and (when it names one) the parent, and adds or replaces the
// Direct address and FHIR base URL it carries. It never removes an
// endpoint, and keeps what it does not carry: fax, certificate (while the
// Direct address is the same), SMART client settings (while the base URL is
// the same), channel order, on-platform flag and vendor role. Verification
// is left to PutEntry, which keeps it only while the contacts are the same:
// a changed address must be verified again.
func merge(old, in *gateway.Entry) *gateway.Entry {
	next := *old
	next.Kind, next.Name, next.NPI = in.Kind, in.Name, in.NPI
	if in.Name == placeholderName(in.NPI) && old.Name != "" {
		// NPPES knew neither name nor kind; keep what the directory has.
		next.Name, next.Kind = old.Name, old.Kind
	}
	if in.ParentID != "" {
		next.ParentID = in.ParentID
	}
	if in.OnPlatform {
		next.OnPlatform = true
	}
	if in.Direct != nil && (old.Direct == nil || old.Direct.Address != in.Direct.Address) {
		next.Direct = &gateway.DirectEndpoint{Address: in.Direct.Address}
	}
	if in.FHIR != nil && (old.FHIR == nil || old.FHIR.BaseURL != in.FHIR.BaseURL) {
		next.FHIR = &gateway.FHIREndpoint{BaseURL: in.FHIR.BaseURL}
	}
	if old.Kind == gateway.KindVendor {
		next.Kind = old.Kind // an import never demotes a vendor
	}
	next.Verification = nil
	next.Version = old.Version
	return &next
}

// fill is old with the endpoints of in that old lacks; an endpoint of in
// that differs from old's is a row error and old's is kept.
func fill(old, in *gateway.Entry, row int, sum *Summary) *gateway.Entry {
	next := *old
	next.Verification = nil
	switch {
	case in.Direct == nil:
	case old.Direct == nil:
		next.Direct = &gateway.DirectEndpoint{Address: in.Direct.Address}
	case old.Direct.Address != in.Direct.Address:
		sum.Skipped = append(sum.Skipped, RowError{row, "direct.address",
			fmt.Sprintf("entry %s came earlier in this import with another Direct address; the first is kept", in.ID)})
	}
	switch {
	case in.FHIR == nil:
	case old.FHIR == nil:
		next.FHIR = &gateway.FHIREndpoint{BaseURL: in.FHIR.BaseURL}
	case old.FHIR.BaseURL != in.FHIR.BaseURL:
		sum.Skipped = append(sum.Skipped, RowError{row, "fhir.baseUrl",
			fmt.Sprintf("entry %s came earlier in this import with another FHIR endpoint; the first is kept", in.ID)})
	}
	if in.OnPlatform {
		next.OnPlatform = true
	}
	return &next
}

// sameEntry reports whether writing next over old would change nothing
// the directory holds (ignoring bookkeeping: version, time, verification,
// the gateway's checks).
func sameEntry(old, next *gateway.Entry) bool {
	a, b := *old, *next
	a.Verification, b.Verification = nil, nil
	a.Checks, b.Checks = nil, nil // the gateway's own checks are not imported
	a.Version, b.Version = 0, 0
	a.Updated = b.Updated
	return reflect.DeepEqual(&a, &b)
}

// placeholderName is the name NPPES gives an entry whose file rows name
// nobody.
func placeholderName(npi string) string { return "NPI " + npi }
