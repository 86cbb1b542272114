package gateway

// The core wraps a store's Tx to add behaviour (referral-version hooks,
// metrics after commit). A wrapper must not hide what the store's own Tx
// can do beyond the Tx interface (keeping and loading data keys), nor what
// an outer wrapper offers (the metrics queue): every wrapper has an Unwrap
// method, and capability lookups go through asTx instead of a bare type
// assertion.

// txWrapper is a Tx that wraps another.
type txWrapper interface {
	Unwrap() Tx
}

// asTx finds a T in tx or in the Txs it wraps, outermost first.
func asTx[T any](tx Tx) (T, bool) {
	for tx != nil {
		if t, ok := tx.(T); ok {
			return t, true
		}
		w, ok := tx.(txWrapper)
		if !ok {
			break
		}
		tx = w.Unwrap()
	}
	var zero T
	return zero, false
}
