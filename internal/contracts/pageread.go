package contracts

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"

	"github.com/campuspay/contracts/internal/jsonr"
)

// Errors of a body that is valid JSON but not a contract list.
var (
	errNotObject  = errors.New("the answer is not a JSON object")
	errDataKind   = errors.New("data is not an array of objects")
	errNotString  = errors.New("a contract field is not a string of valid UTF-8")
	errTotalCount = errors.New("total_count is not an integer")
	errNotJSON    = errors.New("the answer is not valid JSON")
)

// decodePage reads WeChat Pay's answer. It is read with jsonr rather than
// encoding/json, on every warm invocation's path, with encoding/json's
// outcome: the same syntax check of the whole body, keys matched the same
// way, the later of two equal keys winning, null as absent, and a value of
// the wrong type an error.
func decodePage(body []byte, lists *contractLists) (upstreamPage, error) {
	var up upstreamPage
	r := jsonr.NewReader(body)
	var kindErr error
	switch r.Peek() {
	case jsonr.Null:
		r.Skip()
	case jsonr.Object:
		for key := range r.Members() {
			switch jsonr.Match(key, "data", "total_count") {
			case 0:
				data, err := readContracts(r, lists)
				up.Data = data
				kindErr = cmp.Or(kindErr, err)
			case 1:
				n, err := readCount(r)
				up.TotalCount = n
				kindErr = cmp.Or(kindErr, err)
			}
		}
	default:
		r.Skip()
		kindErr = errNotObject
	}
	if err := r.Finish(); err != nil {
		return upstreamPage{}, fmt.Errorf("%w: %w", errNotJSON, err)
	}
	if kindErr != nil {
		return upstreamPage{}, kindErr
	}
	return up, nil
}

// readContracts reads data: null, or an array of contracts (each an object
// or null). A value of the wrong type is skipped and reported.
func readContracts(r *jsonr.Reader, lists *contractLists) ([]Contract, error) {
	switch r.Peek() {
	case jsonr.Null:
		r.Skip()
		return nil, nil
	case jsonr.Array:
	default:
		r.Skip()
		return nil, errDataKind
	}
	data := lists.get()
	var kindErr error
	for range r.Elements() {
		data = append(data, Contract{})
		c := &data[len(data)-1]
		switch r.Peek() {
		case jsonr.Null:
			continue
		case jsonr.Object:
		default:
			kindErr = errDataKind
			continue
		}
		for key := range r.Members() {
			f := c.field(key)
			if f == nil {
				continue
			}
			switch r.Peek() {
			case jsonr.Null:
				r.Skip()
				*f = nil
			case jsonr.String:
				raw, valid := r.RawString()
				*f = raw
				if !valid {
					kindErr = errNotString
				}
			default:
				kindErr = errNotString
			}
		}
	}
	return data, kindErr
}

// readCount reads total_count: null, or an integer that fits an int.
func readCount(r *jsonr.Reader) (*int, error) {
	switch r.Peek() {
	case jsonr.Null:
		r.Skip()
		return nil, nil
	case jsonr.Number:
		n, err := strconv.Atoi(string(r.Number()))
		if err != nil {
			return nil, errTotalCount
		}
		return &n, nil
	default:
		r.Skip()
		return nil, errTotalCount
	}
}
