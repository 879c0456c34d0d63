//go:build !linux && !libpcap

package capture

import "runtime"

func openLive(cfg LiveConfig) (LiveSource, error) {
	return nil, liveErr(cfg.Interface, ErrLiveUnsupported,
		"capturing on %s: live capture needs Linux or a build with -tags libpcap (this is %s)", cfg.Interface, runtime.GOOS)
}
