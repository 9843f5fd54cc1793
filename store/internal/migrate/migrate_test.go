package migrate

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")}, "m/0001_a.sql": {Data: []byte("A")}, "m/README": {Data: []byte("x")},
	}
	ms, err := Load(fsys, "m")
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].SQL != "B" {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	for _, bad := range []fstest.MapFS{
		{"m/x.sql": {}}, {"m/0_a.sql": {}}, {"m/01_a.sql": {}, "m/1_b.sql": {}},
	} {
		if _, err := Load(bad, "m"); err == nil {
			t.Errorf("Load(%v) succeeded", bad)
		}
	}
}

func FuzzVersion(f *testing.F) {
	for _, s := range []string{"0001_init.sql", "x.sql", "0_a.sql", "-1_a.sql", "99999999999999999999_a.sql"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if v, err := Version(name); err == nil && v <= 0 {
			t.Fatalf("Version(%q) = %d", name, v)
		}
	})
}
