package app

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/sip"
)

// warnDefaults warns loudly about secrets left at the fallback written in
// the config file (seat passwords): fine for a first try, not for real calls.
func warnDefaults(cfg *config.Config, log *slog.Logger) {
	if keys := DefaultedSecrets(cfg); len(keys) > 0 {
		log.Warn("!!! INSECURE: these keys use the default written in the config file because their environment variable is not set; anyone who has read the file can register as a seat. Set them before taking real calls.",
			"keys", strings.Join(keys, ", "))
	}
	for _, w := range append(SecurityWarnings(cfg), NetworkWarnings(cfg)...) {
		log.Warn(w)
	}
}

// SecurityWarnings are settings that work but are weaker than they should
// be, said at start and by check-config.
func SecurityWarnings(cfg *config.Config) []string {
	var out []string
	if cfg.Workorder.Secret != "" && cfg.Workorder.FeedbackSecret == "" {
		out = append(out, "workorder.feedback_secret is not set: workorder.secret also verifies the work-order system's feedback, "+
			"so one key signs both directions (whoever can check our pushes can forge feedback); give the feedback its own key")
	}
	return out
}

// DefaultedSecrets are the passwords and secrets that took the fallback
// written in the config file (their environment variable unset) and are in
// use: a work-order secret without a work-order URL, or a cluster secret on
// a node alone, is not.
func DefaultedSecrets(cfg *config.Config) []string {
	var keys []string
	for _, k := range cfg.Defaulted {
		switch {
		case k == "workorder.secret" && cfg.Workorder.URL == "":
		case k == "workorder.feedback_secret" && cfg.Workorder.FeedbackSecret == "":
			// Left empty: workorder.secret verifies feedback (SecurityWarnings says so).
		case strings.HasPrefix(k, "cluster.") && cfg.ACD.Backend != "redis":
		case strings.Contains(k, "password") || strings.Contains(k, "secret"):
			keys = append(keys, k)
		}
	}
	return keys
}

// CheckTLS loads the certificate a tls:// listener would present, as
// serve does; a certificate that expires within 30 days is a warning.
func CheckTLS(cfg *config.Config, now time.Time) (warning string, err error) {
	if !cfg.SIP.HasTLS() {
		return "", nil
	}
	c, err := sip.LoadTLSCertificate(cfg.SIP.TLSCert, cfg.SIP.TLSKey)
	if err != nil {
		return "", err
	}
	if c.Leaf != nil {
		if left := c.Leaf.NotAfter.Sub(now); left < 30*24*time.Hour {
			return fmt.Sprintf("sip.tls_cert %s expires %s (in %.0f days): renew it and send the hotline SIGHUP",
				cfg.SIP.TLSCert, c.Leaf.NotAfter.UTC().Format(time.RFC3339), left.Hours()/24), nil
		}
	}
	return "", nil
}

// CheckIVR loads the menu and prompts the configuration names, as serve
// would, for check-config.
func CheckIVR(cfg *config.Config) error {
	_, pfs, err := loadIVR(cfg)
	if err != nil {
		return err
	}
	_, err = loadPrompts(pfs)
	return err
}
