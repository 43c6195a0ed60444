package http1

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"testing"
)

// heads returns what writeHead and http.Request.Write write for req.
func heads(t *testing.T, req *http.Request) (got, want string, gotErr, wantErr error) {
	t.Helper()
	var g, w bytes.Buffer
	bw := bufio.NewWriter(&g)
	gotErr = writeHead(bw, req)
	bw.Flush()
	wantErr = req.Write(&w)
	return g.String(), w.String(), gotErr, wantErr
}

func checkHead(t *testing.T, req *http.Request) {
	t.Helper()
	got, want, gotErr, wantErr := heads(t, req)
	if got != want || (gotErr == nil) != (wantErr == nil) {
		t.Errorf("%s %s %v:\nwriteHead     %q (%v)\nRequest.Write %q (%v)", req.Method, req.URL, req.Header, got, gotErr, want, wantErr)
	}
}

func newGet(t *testing.T, rawURL string, header http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header
	}
	return req
}

func TestWriteHeadIsRequestWrite(t *testing.T) {
	wechatPay := http.Header{
		"Authorization":    {`WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",signature="uOVRnA4q/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WHsRqS8+9Grz49q+mJQF7JTENMfKbyrRBmtOoymlRkTYXGTYMMqmBQq5mHCUUCIX43kNjyp2/d6PXQzVKPEm/ZmBhcp7B4Ov1pgnyrvGuuMDTxtb4ocNBsmQ2RsHcBlk6PYx7RBqdZg5hd4O+oWLkEDNuZLp8KOmmm3A2cDFbMmTMdEnnbL/tqcMEHIJkmuAMCNRg==",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"`},
		"Accept":           {"application/json"},
		"User-Agent":       {"campuspay-contracts/1.0 (linux/arm64) Go/go1.26.8"},
		"Wechatpay-Serial": {"PUB_KEY_ID_0114232134912410000000000000"},
	}
	for _, tc := range []struct {
		name   string
		url    string
		header http.Header
		edit   func(*http.Request)
	}{
		{name: "WeChat Pay's request", url: "https://api.mch.weixin.qq.com/v3/eduschoolpay/users/oUpF8uMuAJO_M2pxb1Q9zNjWeS6o/contracts?plan_id=1234&contract_status=ADD&offset=0&limit=20", header: wechatPay},
		{name: "no header", url: "http://127.0.0.1:8080/", header: http.Header{}},
		{name: "no user agent", url: "http://example.com/a", header: http.Header{"Accept": {"x"}}},
		{name: "empty user agent", url: "http://example.com/a", header: http.Header{"User-Agent": {""}}},
		{name: "user agent without a value", url: "http://example.com/a", header: http.Header{"User-Agent": {}}},
		{name: "two user agents", url: "http://example.com/a", header: http.Header{"User-Agent": {"a", "b"}}},
		{name: "repeated field", url: "http://example.com/a", header: http.Header{"X-A": {"1", "2", ""}}},
		{name: "not canonical", url: "http://example.com/a", header: http.Header{"user-agent": {"lower"}, "x-b": {"1"}, "X-A": {"2"}}},
		{name: "excluded fields", url: "http://example.com/a", header: http.Header{"Host": {"evil"}, "Content-Length": {"5"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}}},
		{name: "tab inside", url: "http://example.com/a", header: http.Header{"X": {"a\tb"}}},
		{name: "Host field", url: "http://example.com/a", header: http.Header{}, edit: func(r *http.Request) { r.Host = "other.example:81" }},
		{name: "HEAD", url: "http://example.com/a", header: http.Header{}, edit: func(r *http.Request) { r.Method = http.MethodHead }},
		{name: "no method", url: "http://example.com/a", header: http.Header{}, edit: func(r *http.Request) { r.Method = "" }},
		{name: "escaped path", url: "http://example.com/a%20b/%E4%B8%AD?q=%20&r", header: http.Header{}},
		{name: "IPv6", url: "http://[::1]:8080/x", header: http.Header{}},
		// Written by Request.Write itself.
		{name: "newline in a value", url: "http://example.com/a", header: http.Header{"X": {"a\r\nInjected: 1"}}},
		{name: "spaces around a value", url: "http://example.com/a", header: http.Header{"X": {" a "}, "User-Agent": {"\tua "}}},
		{name: "invalid name", url: "http://example.com/a", header: http.Header{"Bad Name": {"1"}, "Ok": {"2"}}},
		{name: "non-ASCII value", url: "http://example.com/a", header: http.Header{"X": {"é"}}},
		{name: "zone", url: "http://example.com/a", header: http.Header{}, edit: func(r *http.Request) { r.Host = "[fe80::1%25en0]:80" }},
		{name: "odd host", url: "http://example.com/a", header: http.Header{}, edit: func(r *http.Request) { r.Host = "a b" }},
		{name: "control in the target", url: "http://example.com/a", header: http.Header{}, edit: func(r *http.Request) { r.URL.RawQuery = "a=\x01" }},
		{name: "space in the target", url: "http://example.com/a", header: http.Header{}, edit: func(r *http.Request) { r.URL.RawQuery = "a b" }},
		{name: "many fields", url: "http://example.com/a", header: func() http.Header {
			h := http.Header{}
			for _, c := range "abcdefghijklmnopqrstu" {
				h["X-"+string(c)] = []string{"v"}
			}
			return h
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newGet(t, tc.url, tc.header)
			if tc.edit != nil {
				tc.edit(req)
			}
			checkHead(t, req)
		})
	}
}

func TestWriteHeadLeavesTracedRequestsToRequestWrite(t *testing.T) {
	var wrote []string
	trace := &httptrace.ClientTrace{WroteHeaderField: func(k string, _ []string) { wrote = append(wrote, k) }}
	req := newGet(t, "http://example.com/a", http.Header{"Accept": {"x"}})
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	if err := writeHead(bw, req); err != nil {
		t.Fatal(err)
	}
	if strings.Join(wrote, ",") != "Host,User-Agent,Accept" {
		t.Errorf("the trace saw %v: the head was not written by Request.Write", wrote)
	}
}

// FuzzWriteHead holds writeHead to Request.Write for requests built from
// the fuzzer's path, query, host and one header field.
func FuzzWriteHead(f *testing.F) {
	f.Add("/v3/x", "a=1&b=2", "api.mch.weixin.qq.com", "Authorization", "WECHATPAY2 x=\"y\"", "ua/1.0")
	f.Add("/a b", "\x00", "h", "bad name", " v ", "")
	f.Add("", "", "[::1]:80", "X", "é\t", "\r\n")
	f.Fuzz(func(t *testing.T, path, query, host, name, value, ua string) {
		req := &http.Request{
			Method: http.MethodGet,
			URL:    &url.URL{Scheme: "http", Host: "example.com", Path: path, RawQuery: query},
			Host:   host,
			Header: http.Header{name: {value}, "User-Agent": {ua}},
		}
		checkHead(t, req.WithContext(context.Background()))
	})
}
