package bpf

import (
	"os"
	"testing"
)

// The tests resolve names with the local files only: a name that is not
// in /etc/hosts must never become a DNS query.
func TestMain(m *testing.M) {
	defaultNames = &sysNames{root: "/"}
	code := m.Run()
	removeEmptyCaptures()
	os.Exit(code)
}
