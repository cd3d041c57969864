package pipeline

import (
	"math/rand/v2"
	"time"
)

// backoff is full-jitter exponential backoff: a random wait in
// [0, min(max, initial·2^attempt)), at least a millisecond.
func backoff(initial, max time.Duration, attempt int) time.Duration {
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if max < initial {
		max = initial
	}
	ceil := initial
	for i := 1; i < attempt && ceil < max; i++ {
		ceil *= 2
	}
	if ceil > max {
		ceil = max
	}
	return time.Millisecond + rand.N(ceil)
}
