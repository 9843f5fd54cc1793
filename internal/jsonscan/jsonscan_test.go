package jsonscan

import (
	"encoding/json"
	"testing"
)

func TestScalarAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`"a"`, `"caf\u00e9"`, `"\"q\""`, `"bad\x"`, `"ctl` + "\x01" + `"`, `"unterminated`,
		`0`, `-0.5e+3`, `01`, `1.`, `-`, `1e`, `true`, `false`, `null`, `nul`, `"0123456789abcdef"`,
	} {
		end, ok, _ := Scalar(in, 0)
		if valid := json.Valid([]byte(in)); (ok && end == len(in)) != valid {
			t.Errorf("Scalar(%q) = %d, %v; json.Valid = %v", in, end, ok, valid)
		}
	}
	if i := SkipWS(" \t\r\n x", 0); i != 5 {
		t.Errorf("SkipWS = %d, want 5", i)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{`"a"`, `"\u00e9\n"`, `"x\"`, `"0123456789abcdefgh"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) == 0 || s[0] != '"' {
			return
		}
		end, ok, _ := String(s, 0)
		if valid := json.Valid([]byte(s)); (ok && SkipWS(s, end) == len(s)) != valid {
			t.Fatalf("String(%q) = %d, %v; json.Valid = %v", s, end, ok, valid)
		}
	})
}
