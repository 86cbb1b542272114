package phaxio

import (
	"maps"
	"slices"
)

// sortedKeys returns m's keys in byte order, the order Phaxio signs in.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
