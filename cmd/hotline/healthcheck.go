package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

func healthcheckFlags(fs *flag.FlagSet) (cfgPath, url *string, timeout *time.Duration) {
	return configFlag(fs),
		fs.String("url", "", "the `URL` to GET (default http://<http.listen>/healthz, 127.0.0.1 for an address of all interfaces)"),
		fs.Duration("timeout", 3*time.Second, "give up after this long")
}

// healthcheck is `hotline healthcheck`: the container's HEALTHCHECK (the
// distroless image has no curl or shell). Exit 0 on 200, 1 otherwise: a
// draining hotline or one whose database refuses writes answers 503.
func healthcheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("healthcheck", stderr)
	cfgPath, url, timeout := healthcheckFlags(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	if *url == "" {
		cfg, ok := loadConfig(*cfgPath, stderr)
		if !ok {
			return 1
		}
		*url = healthzURL(cfg.HTTP.Listen)
	}
	c := &http.Client{Timeout: *timeout}
	res, err := c.Get(*url)
	if err != nil {
		fmt.Fprintln(stderr, "hotline healthcheck:", err)
		return 1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	line := fmt.Sprintf("%s: %s %s", *url, res.Status, strings.TrimSpace(string(body)))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "hotline healthcheck:", line)
		return 1
	}
	fmt.Fprintln(stdout, line)
	return 0
}

// healthzURL is /healthz on http.listen, reached over loopback when it
// listens on every address.
func healthzURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/healthz"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
