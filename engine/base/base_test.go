package base

import (
	"errors"
	"testing"
)

func TestBlockErrorIsErrBlocked(t *testing.T) {
	var err error = &BlockError{Family: FamilyFlow, Resource: "r", Reason: "qps"}
	if !errors.Is(err, ErrBlocked) {
		t.Fatal("errors.Is(BlockError, ErrBlocked) = false")
	}
	if got := err.Error(); got != "rulesync: r: blocked by flow rule: qps" {
		t.Fatalf("Error() = %q", got)
	}
}
