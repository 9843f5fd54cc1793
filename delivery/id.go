package delivery

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// IDPrefix starts every delivery id.
const IDPrefix = "dlv_"

// crockford is Crockford's base32 alphabet, in ascending byte order so that
// ids sort like the numbers they encode.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

const maxIDMillis = 1<<48 - 1

// NewID returns a new delivery id: "dlv_" and 26 characters of Crockford
// base32 holding a 48-bit millisecond unix time (big-endian, first) and 80
// crypto-random bits, like a ULID. Ids of different milliseconds sort by
// time as strings; ids of the same millisecond sort randomly. Times before
// 1970 count as 1970.
func NewID(now time.Time) string {
	var b [16]byte
	msec := min(max(now.UnixMilli(), 0), maxIDMillis)
	binary.BigEndian.PutUint64(b[:8], uint64(msec)<<16)
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand.Read aborts the program instead)
	var out [len(IDPrefix) + 26]byte
	copy(out[:], IDPrefix)
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	// 128 bits in 26 five-bit digits: the first digit holds the top 3 bits.
	for i := 25; i >= 0; i-- {
		out[len(IDPrefix)+i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// IDTime returns the millisecond time encoded in a delivery id made by
// NewID.
func IDTime(id string) (time.Time, error) {
	s, ok := strings.CutPrefix(id, IDPrefix)
	if !ok || len(s) != 26 {
		return time.Time{}, fmt.Errorf("delivery id %q: want %s and 26 base32 characters", id, IDPrefix)
	}
	if s[0] > '7' {
		return time.Time{}, fmt.Errorf("delivery id %q: first character %q out of range", id, s[0])
	}
	var msec uint64
	for i := range 10 { // 3 + 9·5 = 48 bits: the first 10 digits are the time
		d := strings.IndexByte(crockford, s[i])
		if d < 0 {
			return time.Time{}, fmt.Errorf("delivery id %q: %q is not a Crockford base32 digit", id, s[i])
		}
		msec = msec<<5 | uint64(d)
	}
	for i := 10; i < 26; i++ {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return time.Time{}, fmt.Errorf("delivery id %q: %q is not a Crockford base32 digit", id, s[i])
		}
	}
	return time.UnixMilli(int64(msec)).UTC(), nil
}
