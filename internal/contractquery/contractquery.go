// Package contractquery validates a request for a user's contract list
// against the contract's rules, which are WeChat Pay's own plus a character
// set that keeps every value safe to put in a URL path and query unescaped.
package contractquery

import (
	"strconv"
	"strings"

	"github.com/campuspay/contracts/internal/invocation"
)

// Limits and defaults of paging, as WeChat Pay documents them.
const (
	DefaultLimit = 20
	MaxLimit     = 40
	MaxOpenID    = 128
	MaxPlanID    = 32
)

// Contract statuses WeChat Pay understands.
const (
	StatusSigned     = "ADD"    // 已签约
	StatusTerminated = "DELETE" // 已解约
	StatusAll        = "ALL"
)

// Query is a validated request: every field is safe to send as it is.
type Query struct {
	OpenID         string
	PlanID         string
	ContractStatus string // ADD, DELETE or ALL
	Offset         int
	Limit          int
}

// FieldError says which field is wrong and why, in words for people.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// Validate checks the raw parameters and returns the query they make.
// Fields are checked in a fixed order, so the same bad request always names
// the same field.
func Validate(p invocation.Params) (Query, *FieldError) {
	var q Query
	var err *FieldError
	if q.OpenID, err = identifier(p, invocation.ParamOpenID, MaxOpenID); err != nil {
		return Query{}, err
	}
	if q.PlanID, err = identifier(p, invocation.ParamPlanID, MaxPlanID); err != nil {
		return Query{}, err
	}
	if q.ContractStatus, err = status(p); err != nil {
		return Query{}, err
	}
	if q.Limit, err = integer(p, invocation.ParamLimit, DefaultLimit, 1, MaxLimit, "limit must be an integer from 1 to 40"); err != nil {
		return Query{}, err
	}
	if q.Offset, err = integer(p, invocation.ParamOffset, 0, 0, -1, "offset must be an integer of 0 or more"); err != nil {
		return Query{}, err
	}
	if q.Offset%q.Limit != 0 {
		return Query{}, &FieldError{Field: invocation.ParamOffset,
			Message: "offset must be a multiple of limit (" + strconv.Itoa(q.Limit) + ")"}
	}
	return q, nil
}

// single returns the one value given for name; ok is false when none was.
func single(p invocation.Params, name string) (v invocation.Value, ok bool, err *FieldError) {
	switch vs := p[name]; len(vs) {
	case 0:
		return invocation.Value{}, false, nil
	case 1:
		return vs[0], true, nil
	default:
		return invocation.Value{}, false, &FieldError{Field: name, Message: name + " must be given only once"}
	}
}

func identifier(p invocation.Params, name string, max int) (string, *FieldError) {
	v, ok, err := single(p, name)
	if err != nil {
		return "", err
	}
	if !ok || (v.Kind == invocation.KindString && v.Text == "") {
		return "", &FieldError{Field: name, Message: name + " is required"}
	}
	if v.Kind != invocation.KindString || len(v.Text) > max || !isIdentifier(v.Text) {
		return "", &FieldError{Field: name,
			Message: name + " must be 1 to " + strconv.Itoa(max) + " characters of A-Z, a-z, 0-9, _ and -"}
	}
	return v.Text, nil
}

func isIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func status(p invocation.Params) (string, *FieldError) {
	const name = invocation.ParamContractStatus
	v, ok, err := single(p, name)
	if err != nil {
		return "", err
	}
	if !ok || (v.Kind == invocation.KindString && v.Text == "") {
		return "", &FieldError{Field: name, Message: name + " is required (ADD, DELETE or ALL)"}
	}
	if v.Kind == invocation.KindString {
		switch s := strings.ToUpper(v.Text); s {
		case StatusSigned, StatusTerminated, StatusAll:
			return s, nil
		}
	}
	return "", &FieldError{Field: name, Message: name + " must be ADD, DELETE or ALL"}
}

// integer reads an optional integer in [min, max] (max < 0: no upper bound).
// A JSON number must be written as an integer; 20.0 and 2e1 are refused, as
// a query string's "20.0" would be.
func integer(p invocation.Params, name string, def, min, max int, msg string) (int, *FieldError) {
	v, ok, err := single(p, name)
	if err != nil {
		return 0, err
	}
	if !ok {
		return def, nil
	}
	if v.Kind == invocation.KindString && v.Text == "" {
		return 0, &FieldError{Field: name, Message: msg}
	}
	if v.Kind == invocation.KindOther || !isDigits(v.Text) {
		return 0, &FieldError{Field: name, Message: msg}
	}
	n, convErr := strconv.Atoi(v.Text)
	if convErr != nil || n < min || (max >= 0 && n > max) {
		return 0, &FieldError{Field: name, Message: msg}
	}
	return n, nil
}

// isDigits accepts an optional leading minus and decimal digits only, so
// "+5", " 5", "5.0" and "0x5" are refused rather than read leniently.
func isDigits(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Encode renders the four query parameters explicitly, in sorted order, as
// the contract's links carry them. Validation leaves nothing to escape.
func (q Query) Encode() string {
	return invocation.ParamContractStatus + "=" + q.ContractStatus +
		"&" + invocation.ParamLimit + "=" + strconv.Itoa(q.Limit) +
		"&" + invocation.ParamOffset + "=" + strconv.Itoa(q.Offset) +
		"&" + invocation.ParamPlanID + "=" + q.PlanID
}

// WithOffset returns a copy of q at another page.
func (q Query) WithOffset(offset int) Query {
	q.Offset = offset
	return q
}
