package audit

import (
	"io"
	"testing"
)

func BenchmarkNewEntry(b *testing.B) {
	ev := testEvent(1)
	head := NewEntry("practice-a", 0, "", ev)
	b.ReportAllocs()
	for b.Loop() {
		head = NewEntry("practice-a", head.Seq, head.Hash, ev)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkVerify(b *testing.B) {
	const n = 10_000
	chain := append(buildChain(b, "practice-a", n/2), buildChain(b, "practice-b", n/2)...)
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Verify(rows(chain))
		if err != nil || !rep.OK() {
			b.Fatalf("Verify = %+v, %v", rep.Breaks, err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkExportFHIR(b *testing.B) {
	const n = 1_000
	chain := buildChain(b, "practice-a", n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ExportFHIR(io.Discard, rows(chain), ExportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
}
