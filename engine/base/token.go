package base

import "context"

// TokenStatus is a token server's answer to a cluster flow request, with
// Sentinel's numbers. It lives here, below the rule families, so that flow and
// hot-param rules share one vocabulary with the token services that serve them.
type TokenStatus int

// Token statuses, with Sentinel's numbers.
const (
	TokenOK              TokenStatus = 0
	TokenBlocked         TokenStatus = 1
	TokenShouldWait      TokenStatus = 2 // pass after waiting WaitMs
	TokenNoRuleExists    TokenStatus = 3
	TokenNoRefRuleExists TokenStatus = 4
	TokenNotAvailable    TokenStatus = 5
	TokenReleaseOK       TokenStatus = 6
	TokenAlreadyRelease  TokenStatus = 7
	TokenFail            TokenStatus = -1
	TokenTooManyRequest  TokenStatus = -2
	TokenBadRequest      TokenStatus = -4
)

// String names the status as Sentinel's TokenResultStatus does.
func (s TokenStatus) String() string {
	switch s {
	case TokenOK:
		return "OK"
	case TokenBlocked:
		return "BLOCKED"
	case TokenShouldWait:
		return "SHOULD_WAIT"
	case TokenNoRuleExists:
		return "NO_RULE_EXISTS"
	case TokenNoRefRuleExists:
		return "NO_REF_RULE_EXISTS"
	case TokenNotAvailable:
		return "NOT_AVAILABLE"
	case TokenReleaseOK:
		return "RELEASE_OK"
	case TokenAlreadyRelease:
		return "ALREADY_RELEASE"
	case TokenFail:
		return "FAIL"
	case TokenTooManyRequest:
		return "TOO_MANY_REQUEST"
	case TokenBadRequest:
		return "BAD_REQUEST"
	}
	return "UNKNOWN"
}

// TokenResult is the answer to one token request.
type TokenResult struct {
	Status    TokenStatus
	Remaining int64 // tokens left after this request, as the server counts them (-1: not told)
	WaitMs    int64 // for TokenShouldWait
}

// ParamTokenService grants tokens for cluster-mode hot-param rules. params are
// the values of the rule's argument: one value, or the elements of a slice
// argument, each a string, bool or number (see the cluster package for how Go
// types map to Java's). Like a flow token service it runs on the hot path and
// must bound its own latency; an error counts as a failed request.
type ParamTokenService interface {
	RequestParamToken(ctx context.Context, flowID, count int64, params []any) (TokenResult, error)
}
