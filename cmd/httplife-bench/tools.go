package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
)

// aptPackage is the Debian package of each program httplife-bench runs.
var aptPackage = map[string]string{
	"nginx": "nginx", "tcpdump": "tcpdump", "wrk": "wrk", "ab": "apache2-utils",
	"tshark": "tshark", "tcptrace": "tcptrace",
}

// missingTools returns the programs not on PATH. It prints the apt-get
// command that installs them and, with install (as root), runs it.
func missingTools(ctx context.Context, names []string, install bool) map[string]bool {
	missing := func() (m map[string]bool, pkgs []string) {
		m = map[string]bool{}
		for _, n := range names {
			if _, err := exec.LookPath(n); err != nil {
				m[n] = true
				pkgs = append(pkgs, aptPackage[n])
			}
		}
		return m, pkgs
	}
	m, pkgs := missing()
	if len(pkgs) == 0 {
		return m
	}
	command := "apt-get install -y " + strings.Join(pkgs, " ")
	if !install || os.Geteuid() != 0 {
		prefix := ""
		if os.Geteuid() != 0 {
			prefix = "sudo "
		}
		progress("not installed: %s; install with: %s%s (or, as root, rerun with --install)",
			strings.Join(keys(m), ", "), prefix, command)
		return m
	}
	progress("installing: %s", command)
	if apt(ctx, append([]string{"install", "-y"}, pkgs...)...) != nil {
		progress("apt-get install failed; running apt-get update and trying once more")
		_ = apt(ctx, "update")
		_ = apt(ctx, append([]string{"install", "-y"}, pkgs...)...)
	}
	m, _ = missing()
	return m
}

func apt(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

func keys(m map[string]bool) []string {
	var out []string
	for _, n := range []string{"nginx", "tcpdump", "wrk", "ab", "tshark", "tcptrace"} {
		if m[n] {
			out = append(out, n)
		}
	}
	return out
}
