package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the path of the cdrgw binary built by TestMain.
var binary string

// TestMain builds cmd/cdrgw once, runs the tests and removes the binary.
// CDRGW_E2E_BINARY names a prebuilt binary to test instead.
//
// The binary is built without the race detector even under go test -race:
// modernc.org/sqlite (C translated to Go) runs some twenty times slower with
// it, too slow for the crash test's 5,000 records. CDRGW_E2E_RACE=1 builds it
// with -race; a data race reported by the gateway then fails the test.
func TestMain(m *testing.M) {
	flag.Parse()
	if b := os.Getenv("CDRGW_E2E_BINARY"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: CDRGW_E2E_BINARY: %v\n", err)
			os.Exit(1)
		}
		binary = abs
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "cdrgw-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cdrgw")
	args := []string{"build", "-o", binary}
	if os.Getenv("CDRGW_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/cdrgw/cdrgw/cmd/cdrgw")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %v: %v\n", args, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
