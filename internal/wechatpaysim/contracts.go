package wechatpaysim

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The seeded users and plans. Every Server holds the same data, built by
// seed, so tests can name them and compare against Contracts.
const (
	// DemoOpenID is the openid of WeChat Pay's documentation, with 45
	// contracts under DemoPlanID (27 signed, then 18 terminated) and 3 signed
	// under SecondPlanID.
	DemoOpenID = "oUpF8uMuAJOM2pxb1Q"
	// DemoPlanID is the plan of WeChat Pay's documentation.
	DemoPlanID = "101164396123311331"
	// SecondPlanID is a second plan of DemoOpenID.
	SecondPlanID = "101164396123311332"
	// SecondOpenID has 5 contracts under DemoPlanID: 3 signed, 2 terminated.
	// Its "-" and "_" are characters openids may hold.
	SecondOpenID = "oUpF8uN95-Ptaags_Htho6TEaZQM"
	// FullPageOpenID has exactly 20 signed contracts under DemoPlanID: one
	// full default page and no next one.
	FullPageOpenID = "oUpF8uFullPage20ContractsXX"
	// AppID is the appid of every seeded contract.
	AppID = "wx8888888888888888"
)

// Contract statuses, as WeChat Pay writes them.
const (
	StatusSigned     = "ADD"    // 已签约
	StatusTerminated = "DELETE" // 已解约
)

// Contract is one item of the contract list, as WeChat Pay sends it.
// OutContractCode is optional at WeChat Pay and left out when empty.
type Contract struct {
	ContractID      string `json:"contract_id"`
	MchID           string `json:"mchid"`
	AppID           string `json:"appid"`
	OpenID          string `json:"openid"`
	PlanID          string `json:"plan_id"`
	ContractStatus  string `json:"contract_status"`
	CreateTime      string `json:"create_time"`
	OutContractCode string `json:"out_contract_code,omitempty"`
}

type seedKey struct{ openid, planID string }

// chinaTime is UTC+8, the zone of WeChat Pay's timestamps.
func chinaTime() *time.Location { return time.FixedZone("CST", 8*60*60) }

// seed builds the contracts of every seeded user and plan, for merchant
// mchid. It is deterministic: the same contract IDs, times and codes every
// time. Within a plan, signed contracts come before terminated ones, as
// WeChat Pay orders them; every fifth contract has no out_contract_code.
func seed(mchid string) map[seedKey][]Contract {
	data := map[seedKey][]Contract{}
	n := 0
	start := time.Date(2024, 9, 1, 10, 0, 0, 0, chinaTime())
	add := func(openid, planID string, signed, terminated int) {
		k := seedKey{openid, planID}
		for i := range signed + terminated {
			n++
			status := StatusSigned
			if i >= signed {
				status = StatusTerminated
			}
			c := Contract{
				ContractID:     fmt.Sprintf("wxcontract%04d", n),
				MchID:          mchid,
				AppID:          AppID,
				OpenID:         openid,
				PlanID:         planID,
				ContractStatus: status,
				CreateTime:     start.Add(time.Duration(n-1) * (26*time.Hour + 17*time.Minute)).Format(time.RFC3339),
			}
			if n%5 != 0 {
				c.OutContractCode = fmt.Sprintf("school-2024-%04d", n)
			}
			data[k] = append(data[k], c)
		}
	}
	add(DemoOpenID, DemoPlanID, 27, 18)
	add(DemoOpenID, SecondPlanID, 3, 0)
	add(SecondOpenID, DemoPlanID, 3, 2)
	add(FullPageOpenID, DemoPlanID, 20, 0)
	return data
}

// Contracts returns every seeded contract of openid under planID, signed
// before terminated, as the simulator pages through them; nil for an
// unknown user or plan.
func (s *Server) Contracts(openid, planID string) []Contract {
	return slices.Clone(s.contracts[seedKey{openid, planID}])
}

// Paging limits of the endpoint.
const (
	defaultLimit = 20
	maxLimit     = 40
)

// contractsPath returns the openid of /v3/eduschoolpay/users/{openid}/contracts.
func contractsPath(escapedPath string) (string, bool) {
	const prefix, suffix = "/v3/eduschoolpay/users/", "/contracts"
	seg, ok := strings.CutPrefix(escapedPath, prefix)
	if !ok {
		return "", false
	}
	if seg, ok = strings.CutSuffix(seg, suffix); !ok || seg == "" || strings.Contains(seg, "/") {
		return "", false
	}
	openid, err := url.PathUnescape(seg)
	if err != nil || openid == "" || strings.Contains(openid, "/") {
		return "", false
	}
	return openid, true
}

// page is the answer of the contract list.
type page struct {
	Data       []Contract `json:"data"`
	Offset     int        `json:"offset"`
	Limit      int        `json:"limit"`
	TotalCount int        `json:"total_count"`
	Links      links      `json:"links"`
}

// links are WeChat Pay's paging links, paths on WeChat Pay's own API. A link
// that does not apply (prev on the first page, next on the last) is "".
type links struct {
	Next string `json:"next"`
	Prev string `json:"prev"`
	Self string `json:"self"`
}

// listContracts answers GET /v3/eduschoolpay/users/{openid}/contracts.
//
// Its rules are WeChat Pay's: plan_id and contract_status (ADD, DELETE or
// ALL, upper case) are required; limit is 1–40, default 20; offset is ≥ 0,
// default 0, and a multiple of limit; no parameter may be given twice. An
// unknown user or plan has no contracts, which is not an error.
func (s *Server) listContracts(openid, rawQuery string) answer {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return paramError("the query string is malformed: " + err.Error())
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if len(q[k]) > 1 {
			return paramError(fmt.Sprintf("%s is given more than once", k))
		}
	}
	planID := q.Get("plan_id")
	if planID == "" {
		return paramError("plan_id is required")
	}
	status := q.Get("contract_status")
	switch status {
	case "":
		return paramError("contract_status is required")
	case StatusSigned, StatusTerminated, "ALL":
	default:
		return paramError(fmt.Sprintf("contract_status must be ADD, DELETE or ALL, not %q", status))
	}
	limit, offset := defaultLimit, 0
	if _, given := q["limit"]; given {
		var ok bool
		if limit, ok = plainInt(q.Get("limit")); !ok || limit < 1 || limit > maxLimit {
			return paramError(fmt.Sprintf("limit must be an integer from 1 to %d", maxLimit))
		}
	}
	if _, given := q["offset"]; given {
		var ok bool
		if offset, ok = plainInt(q.Get("offset")); !ok {
			return paramError("offset must be an integer of 0 or more")
		}
	}
	if offset%limit != 0 {
		return paramError(fmt.Sprintf("offset must be a multiple of limit (%d)", limit))
	}

	var all []Contract
	for _, c := range s.contracts[seedKey{openid, planID}] {
		if status == "ALL" || c.ContractStatus == status {
			all = append(all, c)
		}
	}
	p := page{Data: []Contract{}, Offset: offset, Limit: limit, TotalCount: len(all)}
	if offset < len(all) {
		p.Data = all[offset:min(offset+limit, len(all))]
	}
	link := func(off int) string {
		return fmt.Sprintf("/v3/eduschoolpay/users/%s/contracts?plan_id=%s&contract_status=%s&offset=%d&limit=%d",
			url.PathEscape(openid), url.QueryEscape(planID), status, off, limit)
	}
	p.Links.Self = link(offset)
	if offset+limit < len(all) {
		p.Links.Next = link(offset + limit)
	}
	if offset > 0 {
		p.Links.Prev = link(max(offset-limit, 0))
	}
	return answer{status: http.StatusOK, body: marshal(p)}
}

func paramError(msg string) answer {
	return errorAnswer(http.StatusBadRequest, "PARAM_ERROR", msg)
}

// plainInt reads a non-negative integer of plain decimal digits: no sign,
// no spaces, no more than 9 digits.
func plainInt(s string) (int, bool) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
