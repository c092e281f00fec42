// Package suggest finds the known word a misspelt one probably meant, for
// "did you mean" hints in error messages.
package suggest

// Closest returns the candidate nearest to word by edit distance, if it is
// near enough (fewer edits than half the word's length, plus one) to be a
// likely typo; failing that, the one candidate that word is the first
// dash-separated part of ("param" for "param-flow"); otherwise "".
func Closest(word string, candidates []string) string {
	best, bestD := "", len(word)/2+1
	for _, c := range candidates {
		if d := distance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" || word == "" {
		return best
	}
	for _, c := range candidates {
		if len(c) > len(word) && c[:len(word)] == word && c[len(word)] == '-' {
			if best != "" {
				return "" // more than one: no guess
			}
			best = c
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
