// Package jsonr reads JSON by hand on the function's hot path, where the
// reflection-based encoding/json costs more than the work around it (it
// scans a document twice, once to check it and once to decode it, and
// reflects on every field). It is the reading half of package jsonw.
//
// A Reader is a pull reader over one document held in memory. Its caller
// walks the values it wants and the Reader skips the rest, checking the
// syntax of everything it passes over, so that a document is accepted only
// when encoding/json would find it valid: RFC 8259 grammar, nesting no
// deeper than 10,000, invalid UTF-8 inside strings let through (as
// encoding/json does). Mapping values to Go types is the caller's business.
//
// Errors are sticky: after the first one, every read returns a zero value
// and Finish reports that first error.
package jsonr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the JSON type of a value, told by its first byte.
type Kind uint8

// The kinds of JSON value. Invalid is what Peek reports at the end of the
// input, at a byte that starts no value, or after an error.
const (
	Invalid Kind = iota
	Null
	False
	True
	Number
	String
	Object
	Array
)

var kindNames = [...]string{"invalid", "null", "false", "true", "number", "string", "object", "array"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// maxDepth is how deeply arrays and objects may nest: encoding/json's limit.
const maxDepth = 10000

// SyntaxError is a document that is not valid JSON, or a value read as a
// kind it is not. Offset is the byte at fault.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// Reader reads one JSON document. The zero Reader reads an empty document;
// NewReader reads data, which must not change while it is read: keys and
// raw values returned alias it.
type Reader struct {
	data  []byte
	pos   int
	depth int
	err   *SyntaxError
	key   []byte // scratch for keys with escapes
}

// NewReader returns a Reader of data.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Err returns the first error met so far, or nil.
func (r *Reader) Err() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

func (r *Reader) fail(offset int, format string, args ...any) {
	if r.err == nil {
		r.err = &SyntaxError{Offset: offset, Msg: fmt.Sprintf(format, args...)}
	}
}

func (r *Reader) skipSpace() {
	if r.pos < len(r.data) && r.data[r.pos] > ' ' {
		return // most often: values and punctuation follow each other directly
	}
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// Peek returns the kind of the next value without reading it.
func (r *Reader) Peek() Kind {
	if r.err != nil {
		return Invalid
	}
	r.skipSpace()
	if r.pos >= len(r.data) {
		return Invalid
	}
	return kinds[r.data[r.pos]]
}

// kinds is the Kind of a value by its first byte.
var kinds = func() (t [256]Kind) {
	t['n'], t['f'], t['t'], t['"'], t['{'], t['['], t['-'] = Null, False, True, String, Object, Array, Number
	for c := '0'; c <= '9'; c++ {
		t[c] = Number
	}
	return t
}()

// expect checks that the next value is of kind want, recording an error
// otherwise.
func (r *Reader) expect(want Kind) bool {
	got := r.Peek()
	if got == want {
		return true
	}
	if r.err == nil {
		if got == Invalid {
			r.fail(r.pos, "want a value")
		} else {
			r.fail(r.pos, "want %s, found %s", want, got)
		}
	}
	return false
}

// Raw reads the next value, whatever its kind, and returns its bytes.
func (r *Reader) Raw() []byte {
	if r.Peek() == Invalid {
		r.expect(Null) // records "want a value"
		return nil
	}
	start := r.pos
	r.value()
	if r.err != nil {
		return nil
	}
	return r.data[start:r.pos]
}

// Skip reads the next value, whatever its kind, and drops it.
func (r *Reader) Skip() { r.Raw() }

// value reads one value at r.pos, which is not whitespace.
func (r *Reader) value() {
	switch r.Peek() {
	case Null:
		r.literal("null")
	case False:
		r.literal("false")
	case True:
		r.literal("true")
	case Number:
		r.number()
	case String:
		r.rawString()
	case Object:
		for range r.Members() {
		}
	case Array:
		for range r.Elements() {
		}
	default:
		r.expect(Null)
	}
}

func (r *Reader) literal(word string) {
	if !bytes.HasPrefix(r.data[r.pos:], []byte(word)) {
		r.fail(r.pos, "invalid literal")
		return
	}
	r.pos += len(word)
}

// Number reads a number and returns its literal.
func (r *Reader) Number() []byte {
	if !r.expect(Number) {
		return nil
	}
	start := r.pos
	r.number()
	if r.err != nil {
		return nil
	}
	return r.data[start:r.pos]
}

func (r *Reader) number() {
	d, i := r.data, r.pos
	digits := func() bool {
		start := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case !digits():
		r.fail(i, "invalid number")
		return
	}
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			r.fail(i, "invalid number")
			return
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			r.fail(i, "invalid number")
			return
		}
	}
	r.pos = i
}

// RawString reads a string and returns it as it is in the document,
// quotes and escapes included, and whether it is valid UTF-8 (which JSON
// does not require, nor encoding/json check).
func (r *Reader) RawString() (raw []byte, validUTF8 bool) {
	if !r.expect(String) {
		return nil, false
	}
	start := r.pos
	_, ascii := r.rawString()
	if r.err != nil {
		return nil, false
	}
	raw = r.data[start:r.pos]
	return raw, ascii || utf8.Valid(raw)
}

// String reads a string and returns its value: escapes decoded, and each
// byte of invalid UTF-8 or lone surrogate replaced by U+FFFD, as
// encoding/json does.
func (r *Reader) String() string {
	if !r.expect(String) {
		return ""
	}
	start := r.pos
	escaped, ascii := r.rawString()
	if r.err != nil {
		return ""
	}
	inner := r.data[start+1 : r.pos-1]
	if !escaped && (ascii || utf8.Valid(inner)) {
		return string(inner)
	}
	return string(unquote(nil, inner))
}

// plain[c] is whether byte c stands for itself inside a string: any byte
// but a quote, a backslash or a control character. Bytes of 0x80 and up
// are plain, since invalid UTF-8 is let through as encoding/json does.
var plain = func() (t [256]bool) {
	for c := 0x20; c < len(t); c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const lo, hi = 0x0101010101010101, 0x8080808080808080

// notPlain8 returns a word whose lowest set bit is the high bit of the
// first byte of x (in memory order) that is not plain, or 0 when all eight
// are. A byte below 0x20 borrows in x-0x20*lo, a quote or backslash turns
// to 0 under the xor and borrows in -lo, and &^x unflags the bytes of 0x80
// and up. A borrow can flag bytes above it, never below: the lowest flag
// is exact.
func notPlain8(x uint64) uint64 {
	return ((x - 0x20*lo) | ((x ^ '"'*lo) - lo) | ((x ^ '\\'*lo) - lo)) &^ x & hi
}

// rawString reads the string at r.pos, checking its escapes; it reports
// whether the string has any, and whether it is all ASCII (and so valid
// UTF-8 with no need to check). It passes over plain bytes, most of a
// string, eight at a time while eight are left, then one at a time.
func (r *Reader) rawString() (escaped, ascii bool) {
	d := r.data
	var seen uint64 // every plain byte passed over, or-ed: its high bits tell non-ASCII
	for i := r.pos + 1; ; {
		for i+8 <= len(d) {
			w := binary.LittleEndian.Uint64(d[i:])
			if m := notPlain8(w); m != 0 {
				n := bits.TrailingZeros64(m) / 8
				seen |= w & (1<<(8*n) - 1)
				i += n
				break
			}
			seen |= w
			i += 8
		}
		for i < len(d) && plain[d[i]] {
			seen |= uint64(d[i])
			i++
		}
		if i >= len(d) {
			break
		}
		switch d[i] {
		case '"':
			r.pos = i + 1
			return escaped, seen&hi == 0
		case '\\':
			escaped = true
			if i+1 >= len(d) {
				r.fail(i, "unterminated string")
				return
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex4(d[i+2:i+6]) {
					r.fail(i, "invalid \\u escape")
					return
				}
				i += 6
			default:
				r.fail(i, "invalid escape")
				return
			}
		default: // below 0x20
			r.fail(i, "control character in string")
			return
		}
	}
	r.fail(len(d), "unterminated string")
	return
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var v rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		v = v<<4 | rune(c)
	}
	return v
}

// unquote appends the value of a string's checked inside (no quotes) to b.
func unquote(b, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch s[i+1] {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(s[i+2:])); pair != utf8.RuneError {
							b = utf8.AppendRune(b, pair)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default: // '"', '\\', '/'
				b = append(b, s[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return b
}

// Members reads an object, yielding each member's key (escapes decoded;
// valid until the next key is read, a nested one included). The loop's body reads the member's value, or
// leaves it, and then it is skipped. A loop that breaks early leaves the
// Reader inside the object: only a complete walk can Finish.
func (r *Reader) Members() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if !r.open(Object, '}') {
			return
		}
		defer r.leave()
		for {
			if r.Peek() != String {
				r.fail(r.pos, "want an object key")
				return
			}
			start := r.pos
			escaped, ascii := r.rawString()
			if r.err != nil {
				return
			}
			key := r.data[start+1 : r.pos-1]
			if escaped || !ascii && !utf8.Valid(key) {
				r.key = unquote(r.key[:0], key)
				key = r.key
			}
			r.skipSpace()
			if r.pos >= len(r.data) || r.data[r.pos] != ':' {
				r.fail(r.pos, "want ':' after an object key")
				return
			}
			r.pos++
			r.skipSpace()
			valueAt := r.pos
			if !yield(key) || !r.next(valueAt, '}', "an object") {
				return
			}
		}
	}
}

// Elements reads an array, yielding each element's index. The loop's body
// reads the element, or leaves it, and then it is skipped; as with
// Members, only a complete walk can Finish.
func (r *Reader) Elements() iter.Seq[int] {
	return func(yield func(int) bool) {
		if !r.open(Array, ']') {
			return
		}
		defer r.leave()
		for i := 0; ; i++ {
			if r.Peek() == Invalid {
				r.expect(Null) // records "want a value"
				return
			}
			valueAt := r.pos
			if !yield(i) || !r.next(valueAt, ']', "an array") {
				return
			}
		}
	}
}

// open enters the object or array (kind) at r.pos, reporting whether it has
// members to read: false after an error, or for an empty one (then already
// read past its closer and left again).
func (r *Reader) open(kind Kind, closer byte) bool {
	if !r.expect(kind) || !r.enter() {
		return false
	}
	r.pos++ // '{' or '['
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == closer {
		r.pos++
		r.leave()
		return false
	}
	return true
}

// next finishes a member or element whose value starts at valueAt: it
// skips the value if the loop's body left it, then reads the comma that
// announces another (true) or the closer that ends them (false).
func (r *Reader) next(valueAt int, closer byte, in string) bool {
	if r.err != nil {
		return false
	}
	if r.pos == valueAt { // the body left the value
		r.value()
		if r.err != nil {
			return false
		}
	}
	r.skipSpace()
	if r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ',':
			r.pos++
			return true
		case closer:
			r.pos++
			return false
		}
	}
	r.fail(r.pos, "want ',' or '%c' in %s", closer, in)
	return false
}

func (r *Reader) enter() bool {
	if r.depth >= maxDepth {
		r.fail(r.pos, "nested too deeply")
		return false
	}
	r.depth++
	return true
}

func (r *Reader) leave() { r.depth-- }

// Finish checks that nothing but whitespace follows the value read (the
// caller must have read one), and returns the first error of the whole read.
func (r *Reader) Finish() error {
	if r.err == nil {
		r.skipSpace()
		if r.pos < len(r.data) {
			r.fail(r.pos, "data after the top-level value")
		}
	}
	return r.Err()
}

// Match returns the index of the name in names that key selects, as
// encoding/json selects a struct field by a key: the name equal to key,
// else the first equal to it ignoring case (Unicode simple folding), else
// -1.
func Match(key []byte, names ...string) int {
	for i, name := range names {
		if string(key) == name {
			return i
		}
	}
	for i, name := range names {
		if bytes.EqualFold(key, []byte(name)) {
			return i
		}
	}
	return -1
}
