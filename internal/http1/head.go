package http1

import (
	"bufio"
	"cmp"
	"net/http"
	"net/http/httptrace"
	"slices"
)

// writeHead writes the head of req, a GET or HEAD without a body, to bw:
// the bytes http.Request.Write writes for it (request line, Host,
// User-Agent, then the other header fields sorted by name), without its
// formatting through fmt, its header sorting pool and its string
// replacers, which were a tenth of the exchange. A request with anything
// that Request.Write would change or drop (a control or non-ASCII byte in
// the target or host, a header name that is not a token, a value with a
// control byte or space at either end) or that has an httptrace hook is
// written by Request.Write itself.
func writeHead(bw *bufio.Writer, req *http.Request) error {
	target := req.URL.RequestURI()
	host := cmp.Or(req.Host, req.URL.Host)
	if !plainHead(req, target, host) {
		return req.Write(bw)
	}
	bw.WriteString(cmp.Or(req.Method, http.MethodGet))
	bw.WriteByte(' ')
	bw.WriteString(target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	if ua, ok := req.Header["User-Agent"]; !ok {
		bw.WriteString("User-Agent: Go-http-client/1.1\r\n")
	} else if len(ua) > 0 && ua[0] != "" {
		writeField(bw, "User-Agent", ua[0])
	}
	var names [16]string // the header's names, sorted as Request.Write sorts them
	sorted := names[:0]
	for name := range req.Header {
		if !excluded(name) {
			sorted = append(sorted, name)
		}
	}
	slices.Sort(sorted)
	for _, name := range sorted {
		for _, v := range req.Header[name] {
			writeField(bw, name, v)
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}

func writeField(bw *bufio.Writer, name, value string) {
	bw.WriteString(name)
	bw.WriteString(": ")
	bw.WriteString(value)
	bw.WriteString("\r\n")
}

// excluded are the fields Request.Write does not take from the header:
// Host and User-Agent come first, and a request without a body has no
// length or trailer.
func excluded(name string) bool {
	switch name {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// plainHead says whether writeHead's own writing of req is Request.Write's.
func plainHead(req *http.Request, target, host string) bool {
	if !visible(target) || target == "" || !hostChars(host) || host == "" || len(req.Header) > 16 {
		return false
	}
	if httptrace.ContextClientTrace(req.Context()) != nil {
		return false
	}
	for name, values := range req.Header {
		if !token(name) {
			return false
		}
		for _, v := range values {
			if !fieldValue(v) {
				return false
			}
		}
	}
	return true
}

// visible says whether s is printable ASCII without spaces (a request
// target or host as Request.Write sends it unchanged).
func visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// hostChars says whether every byte of host is one Request.Write sends
// unchanged in Host: letters, digits and "-._~!$&'()*+,;=:[]" (an IPv6
// zone, after '%', it would strip).
func hostChars(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '!' || c == '$' || c == '&' || c == '\'' ||
			c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=' || c == ':' || c == '[' || c == ']':
		default:
			return false
		}
	}
	return true
}

// token says whether s is an HTTP token (RFC 9110 5.6.2): a valid field name.
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// fieldValue says whether Request.Write sends v unchanged: printable ASCII
// (tabs inside), no space or tab at either end.
func fieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return v == "" || (v[0] != ' ' && v[0] != '\t' && v[len(v)-1] != ' ' && v[len(v)-1] != '\t')
}
