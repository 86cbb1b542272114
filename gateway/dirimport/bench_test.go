package dirimport_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/referralgw/gateway/gateway/dirimport"
)

// benchRows is the size of the generated NPPES file.
const benchRows = 50_000

// npiWithCheck appends the CMS Luhn check digit to a 9-digit base.
func npiWithCheck(base int) string {
	digits := fmt.Sprintf("%09d", base)
	sum := 24 // the 80840 prefix
	for i := 0; i < 9; i++ {
		d := int(digits[i] - '0')
		if i%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return digits + fmt.Sprint((10-sum%10)%10)
}

// generateNPPES writes an endpoint file of n rows: every fifth NPI has a
// FHIR row after its Direct row, every fiftieth row is an unsupported type.
func generateNPPES(n int) []byte {
	var b bytes.Buffer
	b.WriteString(nppesHeader)
	for row, npi := 0, 100000000; row < n; npi++ {
		id := npiWithCheck(npi)
		fmt.Fprintf(&b, `"%s","DIRECT","Direct Messaging Address","p%d@direct.bench.example","Y","","Bench Clinic %d, LLC","DIRECT","Direct","","","","","1 Test St","","Springfield","IL","US","62701"`+"\n", id, npi, npi%100)
		row++
		switch {
		case row < n && npi%5 == 0:
			fmt.Fprintf(&b, `"%s","FHIR","FHIR URL","https://fhir%d.bench.example/r4","Y","","","","","","","","","","","","","",""`+"\n", id, npi%100)
			row++
		case row < n && npi%50 == 1:
			fmt.Fprintf(&b, `"%s","SOAP","SOAP URL","https://soap.bench.example","Y","","","","","","","","","","","","","",""`+"\n", id)
			row++
		}
	}
	return b.Bytes()
}

// BenchmarkNPPESParse measures the parser alone over 50,000 rows.
func BenchmarkNPPESParse(b *testing.B) {
	data := generateNPPES(benchRows)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for _, err := range dirimport.NPPES(bytes.NewReader(data), dirimport.NPPESOptions{}).All() {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkNPPESImport imports 50,000 rows into a fresh embedded store
// (one transaction per entry), then imports them again (all unchanged).
// It is slow: run it with -benchtime=1x.
func BenchmarkNPPESImport(b *testing.B) {
	data := generateNPPES(benchRows)
	for b.Loop() {
		b.StopTimer()
		svc := newService(b)
		b.StartTimer()
		sum, err := dirimport.Apply(b.Context(), svc, admin, dirimport.NPPES(bytes.NewReader(data), dirimport.NPPESOptions{}), nil)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Added == 0 || sum.Updated != 0 {
			b.Fatalf("first import: %v", sum)
		}
		b.ReportMetric(float64(sum.Added), "entries")
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkNPPESReimport measures re-importing an unchanged file: one read
// per entry and no writes.
func BenchmarkNPPESReimport(b *testing.B) {
	data := generateNPPES(benchRows)
	svc := newService(b)
	if _, err := dirimport.Apply(b.Context(), svc, admin, dirimport.NPPES(bytes.NewReader(data), dirimport.NPPESOptions{}), nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		sum, err := dirimport.Apply(b.Context(), svc, admin, dirimport.NPPES(bytes.NewReader(data), dirimport.NPPESOptions{}), nil)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Added != 0 || sum.Updated != 0 {
			b.Fatalf("re-import changed entries: %v", sum)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func TestGeneratedNPPESIsValid(t *testing.T) {
	if got := npiWithCheck(123456789); got != "1234567893" {
		t.Fatalf("npiWithCheck = %s, want the CMS example 1234567893", got)
	}
	items := collect(t, dirimport.NPPES(bytes.NewReader(generateNPPES(1000)), dirimport.NPPESOptions{}))
	n, skipped := 0, 0
	for _, it := range items {
		if it.Entry != nil {
			n++
		}
		for _, s := range it.Skipped {
			if s.Field != "Endpoint Type" {
				t.Errorf("generated row refused: %v", s)
			}
			skipped++
		}
	}
	if n == 0 || skipped == 0 || n+skipped+n/5 < 1000-n/5 {
		t.Errorf("1000 generated rows gave %d entries and %d skipped rows", n, skipped)
	}
}
