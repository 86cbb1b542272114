package retryafter_test

import (
	"fmt"
	"time"

	"github.com/referralgw/gateway/internal/retryafter"
)

func ExampleParse() {
	now := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	for _, v := range []string{"120", "Mon, 07 Dec 2026 04:10:00 GMT", "86400", "soon", "-5"} {
		d, ok := retryafter.Parse(v, now)
		fmt.Printf("%q: %v %v\n", v, d, ok)
	}
	// Output:
	// "120": 2m0s true
	// "Mon, 07 Dec 2026 04:10:00 GMT": 10m0s true
	// "86400": 1h0m0s true
	// "soon": 0s false
	// "-5": 0s false
}
