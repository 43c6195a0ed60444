package contracts

import (
	"strconv"

	"github.com/campuspay/contracts/internal/jsonw"
)

// contractOverhead is what AppendJSON writes for a contract besides its
// values: keys, punctuation, and null for each of the eight values.
var contractOverhead = len(`{"contract_id":,"mchid":,"appid":,"openid":,"plan_id":,"contract_status":,"create_time":,"out_contract_code":},`) + 8*len("null")

// EncodedSize returns the most AppendJSON writes, unescaped, for the page
// when its links need no escaping (they are built from validated values
// and the caller's path), so that the answer's buffer is allocated once, at
// about its size.
func (p *Page) EncodedSize() int {
	n := 200 + len(p.Links.Self)
	for _, l := range [...]*string{p.Links.Next, p.Links.Prev} {
		if l != nil {
			n += len(*l)
		}
	}
	for i := range p.Data {
		c := &p.Data[i]
		n += contractOverhead + len(c.ContractID) + len(c.MchID) + len(c.AppID) + len(c.OpenID) +
			len(c.PlanID) + len(c.ContractStatus) + len(c.CreateTime) + len(c.OutContractCode)
	}
	return n
}

// literal is a piece of the page's JSON, and the same escaped as the
// contents of a JSON string, worked out once.
type literal struct{ plain, escaped string }

func lit(s string) literal { return literal{s, string(jsonw.AppendStringContents(nil, s))} }

var (
	litOpen       = lit(`{"data":[`)
	litNull       = lit("null")
	litOffset     = lit(`],"offset":`)
	litLimit      = lit(`,"limit":`)
	litTotalCount = lit(`,"total_count":`)
	litHasMore    = lit(`,"has_more":`)
	litNextOffset = lit(`,"next_offset":`)
	litSelf       = lit(`,"links":{"self":`)
	litNext       = lit(`,"next":`)
	litPrev       = lit(`,"prev":`)
	// litFields open each of a contract's values, in the contract's order.
	litFields = [...]literal{
		lit(`{"contract_id":`), lit(`,"mchid":`), lit(`,"appid":`), lit(`,"openid":`),
		lit(`,"plan_id":`), lit(`,"contract_status":`), lit(`,"create_time":`), lit(`,"out_contract_code":`),
	}
)

// pageWriter appends the page's JSON, as it is or escaped.
type pageWriter struct {
	b       []byte
	escaped bool
}

func (w *pageWriter) lit(l literal) {
	if w.escaped {
		w.b = append(w.b, l.escaped...)
	} else {
		w.b = append(w.b, l.plain...)
	}
}

// json appends JSON that needs no escaping of its own (a number, a
// boolean) or that does (a string token): escaped, it goes through
// jsonw.AppendStringContents.
func (w *pageWriter) json(v []byte) {
	if w.escaped {
		w.b = jsonw.AppendStringContents(w.b, v)
	} else {
		w.b = append(w.b, v...)
	}
}

func (w *pageWriter) raw(v rawString) {
	if v == nil {
		w.lit(litNull)
		return
	}
	w.json(v)
}

func (w *pageWriter) int(n int) { w.b = strconv.AppendInt(w.b, int64(n), 10) }

// link appends a link as a JSON string, or null.
func (w *pageWriter) link(s *string) {
	if s == nil {
		w.lit(litNull)
		return
	}
	var tok [256]byte
	w.json(jsonw.AppendString(tok[:0], *s))
}

// AppendJSON appends the page's JSON, keys in the contract's order; with
// escaped, as the contents of a JSON string, for a proxy envelope (see
// invocation.JSONBody). It is written by hand because it is on every warm
// invocation's path: the reflection-based encoder costs more than the
// rest of the service's work.
func (p *Page) AppendJSON(b []byte, escaped bool) []byte {
	w := pageWriter{b: b, escaped: escaped}
	w.lit(litOpen)
	for i := range p.Data {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		c := &p.Data[i]
		for j, v := range [...]rawString{c.ContractID, c.MchID, c.AppID, c.OpenID, c.PlanID, c.ContractStatus, c.CreateTime, c.OutContractCode} {
			w.lit(litFields[j])
			w.raw(v)
		}
		w.b = append(w.b, '}')
	}
	w.lit(litOffset)
	w.int(p.Offset)
	w.lit(litLimit)
	w.int(p.Limit)
	w.lit(litTotalCount)
	w.int(p.TotalCount)
	w.lit(litHasMore)
	w.b = strconv.AppendBool(w.b, p.HasMore)
	w.lit(litNextOffset)
	if p.NextOffset != nil {
		w.int(*p.NextOffset)
	} else {
		w.lit(litNull)
	}
	w.lit(litSelf)
	w.link(&p.Links.Self)
	w.lit(litNext)
	w.link(p.Links.Next)
	w.lit(litPrev)
	w.link(p.Links.Prev)
	w.b = append(w.b, "}}"...)
	return w.b
}
