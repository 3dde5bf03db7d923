package app

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hotline12348/hotline/internal/config"
)

// Check is the one validation of a configuration beyond the file itself
// (config.Load did that): what serve needs of this machine and of the
// files the configuration names. `hotline check-config` runs it, and
// `hotline serve` runs it before building anything, so that check-config
// never says ok to what serve refuses. It lists every problem, each
// naming its key; the warnings are said by both (serve logs them).
//
// here is false for the configuration of another machine (check-config
// with the files of several nodes): its data_dir and listen addresses are
// that machine's, checked by check-config there.
func Check(cfg *config.Config, now time.Time, here bool) (warnings []string, err error) {
	var errs []error
	if here {
		errs = checkMachine(cfg)
	}
	if err := CheckIVR(cfg); err != nil {
		errs = append(errs, err)
	}
	tlsWarning, err := CheckTLS(cfg, now)
	if err != nil {
		errs = append(errs, err)
	}
	warnings = append(SecurityWarnings(cfg), NetworkWarnings(cfg)...)
	if tlsWarning != "" {
		warnings = append(warnings, tlsWarning)
	}
	return warnings, errors.Join(errs...)
}

// checkMachine is what build needs of this machine before it opens
// anything: a data_dir it can write, and listen addresses that are this
// machine's (a wrong address otherwise fails only at bind, or, for
// media.bind_ip, at the first call).
func checkMachine(cfg *config.Config) []error {
	var errs []error
	if err := checkDataDir(cfg.DataDir); err != nil {
		errs = append(errs, err)
	}
	local := localAddrs()
	notHere := func(key, value string, host string) {
		ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil || local == nil || ip.IsUnspecified() || ip.IsLoopback() || local[ip.Unmap()] {
			return // a name, all addresses, loopback (all of 127/8 binds), or ours
		}
		errs = append(errs, fmt.Errorf("%s: %s: %s is not an address of this machine: nothing can listen on it here", key, value, ip))
	}
	for i, l := range cfg.SIP.Listen {
		if u, err := url.Parse(l); err == nil {
			notHere(fmt.Sprintf("sip.listen[%d]", i), l, u.Hostname())
		}
	}
	if host, _, err := net.SplitHostPort(cfg.HTTP.Listen); err == nil {
		notHere("http.listen", cfg.HTTP.Listen, host)
	}
	notHere("media.bind_ip", cfg.Media.BindIP, cfg.Media.BindIP)
	return errs
}

// checkDataDir: data_dir is a directory this process can write in, or can
// be made under the nearest directory that exists (serve makes it). It
// writes and removes one empty file to know.
func checkDataDir(dir string) error {
	p := dir
	for {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("data_dir: %s: %s is not a directory", dir, p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("data_dir: %s: %w", dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return fmt.Errorf("data_dir: %s: %w", dir, err)
		}
		p = parent
	}
	f, err := os.CreateTemp(p, ".hotline-check-*")
	if err != nil {
		return fmt.Errorf("data_dir: %s: cannot write in %s: %w", dir, p, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// localAddrs are this machine's interface addresses; nil when they cannot
// be listed (then nothing is refused for it).
func localAddrs() map[netip.Addr]bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := map[netip.Addr]bool{}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out
}

// NetworkWarnings are settings that start but cannot work beyond this
// machine: SIP listening on every address while the RTP address is
// loopback (a caller or seat elsewhere would get 127.0.0.1 in our SDP and
// send its audio to itself).
func NetworkWarnings(cfg *config.Config) []string {
	var all string
	for _, l := range cfg.SIP.Listen {
		if u, err := url.Parse(l); err == nil {
			if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); u.Hostname() == "" || err == nil && ip.IsUnspecified() {
				all = l
				break
			}
		}
	}
	if all == "" {
		return nil
	}
	var loop []string
	for _, k := range []struct{ key, value string }{{"media.rtp_ip", cfg.Media.RTPIP}, {"media.bind_ip", cfg.Media.BindIP}} {
		if ip, err := netip.ParseAddr(k.value); err == nil && ip.IsLoopback() {
			loop = append(loop, k.key+" "+k.value)
		}
	}
	if len(loop) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("sip.listen %s takes calls on every address, but %s is loopback: callers and seats on other machines "+
		"would get no audio; set media.rtp_ip (RTP_IP) to this machine's address they reach, and media.bind_ip (RTP_BIND_IP) to it or 0.0.0.0",
		all, strings.Join(loop, " and "))}
}
