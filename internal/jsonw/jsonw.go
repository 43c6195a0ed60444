// Package jsonw appends JSON by hand on the function's hot path, where the
// reflection-based encoding/json costs more than the work around it.
package jsonw

import (
	"math/bits"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// safe[c] is whether byte c is copied into a JSON string as it is:
// printable ASCII other than quote and backslash.
var safe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string. It escapes what JSON requires
// (quote, backslash, control characters), replaces invalid UTF-8 with
// U+FFFD as encoding/json does, and leaves &, < and > as they are (and
// U+2028 and U+2029, which encoding/json escapes).
// It takes a string or a byte slice, so a body need not be copied to a
// string first.
func AppendString[T ~string | ~[]byte](b []byte, s T) []byte {
	b = append(b, '"')
	b = AppendStringContents(b, s)
	return append(b, '"')
}

// AppendStringContents appends s escaped as AppendString escapes it, but
// without the quotes around: the contents of a JSON string, so that a
// string can be escaped in parts.
func AppendStringContents[T ~string | ~[]byte](b []byte, s T) []byte {
	start := 0 // s[start:i] is still to be copied as it is
	for i := 0; ; {
		// Pass over safe bytes eight at a time while eight are left: a
		// byte-at-a-time loop was most of AppendString's time on a body.
		for i+8 <= len(s) {
			if m := unsafe8(load8(s, i)); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(s) && safe[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		switch c := s[i]; {
		case c == '"' || c == '\\':
			// The byte itself starts the next run: one append fewer for
			// the commonest escape in a JSON body.
			b = append(b, s[start:i]...)
			b = append(b, '\\')
			start = i
			i++
		case c < utf8.RuneSelf: // a control character
			b = append(b, s[start:i]...)
			switch c {
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
		default:
			// Decode runes while they last: other scripts come in runs.
			for i < len(s) && s[i] >= utf8.RuneSelf {
				r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
				if r == utf8.RuneError && size == 1 {
					b = append(b, s[start:i]...)
					b = append(b, `\ufffd`...)
					start = i + 1
				}
				i += size
			}
		}
	}
	return append(b, s[start:]...)
}

// load8 reads s[i:i+8] as a little-endian word (one load, once compiled).
func load8[T ~string | ~[]byte](s T, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const lo, hi = 0x0101010101010101, 0x8080808080808080

// unsafe8 returns a word whose lowest set bit is the high bit of the first
// byte of x (in memory order) that is not safe, or 0 when all eight are
// safe. A byte below 0x20 borrows in x-0x20*lo, a quote or backslash turns
// to 0 under the xor and borrows in -lo, and a byte of 0x80 or more sets
// its own high bit. A borrow can flag bytes above it, never below: the
// lowest flag is exact.
func unsafe8(x uint64) uint64 {
	return ((x - 0x20*lo) | ((x ^ '"'*lo) - lo) | ((x ^ '\\'*lo) - lo) | x) & hi
}
