// Package config reads the function's configuration from its environment.
//
// The variables and their defaults are the contract's (CONTRACT.md, Configuration).
// Variables lists every name the function reads, so that tests can hold the SAM
// template to the code.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Names of the environment variables the function reads.
const (
	EnvSecretID       = "WECHATPAY_SECRET_ID"
	EnvBaseURL        = "WECHATPAY_BASE_URL"
	EnvBackupBaseURL  = "WECHATPAY_BACKUP_BASE_URL"
	EnvSecretCacheTTL = "SECRET_CACHE_TTL"
	EnvUpstreamTimout = "UPSTREAM_TIMEOUT"
	EnvLogLevel       = "LOG_LEVEL"
	EnvMetricsNS      = "METRICS_NAMESPACE"
)

// Variables is every environment variable of ours that the function reads.
// (AWS_* variables set by Lambda or the SDK are not ours and not listed.)
var Variables = []string{
	EnvSecretID, EnvBaseURL, EnvBackupBaseURL, EnvSecretCacheTTL, EnvUpstreamTimout, EnvLogLevel, EnvMetricsNS,
}

// GoRuntimeEnv is the environment the function's Go runtime is deployed
// with, as NAME=value: template.yaml sets it, and the local stack, the
// end-to-end tests and the cold-start measurement start the bootstrap with
// it. The Go runtime reads it, not this package.
//
// GOMAXPROCS=1: a sandbox runs one invocation at a time, and an invocation
// is a sequence (sign, exchange, verify) with nothing to run in parallel;
// below 1,769 MB Lambda gives it less than one vCPU anyway. A second P adds
// nothing but cross-thread wake-ups to every network hand-off, about 5% of
// a warm invocation (README, Performance).
var GoRuntimeEnv = []string{"GOMAXPROCS=1"}

// Defaults of the optional variables.
const (
	DefaultBaseURL          = "https://api.mch.weixin.qq.com"
	DefaultBackupBaseURL    = "https://api2.mch.weixin.qq.com"
	DefaultSecretCacheTTL   = 5 * time.Minute
	DefaultUpstreamTimeout  = 2 * time.Second
	DefaultLogLevel         = "info"
	DefaultMetricsNamespace = "CampusPay/Contracts"
	// BackupOff is the value of WECHATPAY_BACKUP_BASE_URL that disables failover.
	BackupOff = "off"
)

// Config is the function's configuration.
type Config struct {
	SecretID        string
	BaseURL         string
	BackupBaseURL   string // empty when failover is off
	SecretCacheTTL  time.Duration
	UpstreamTimeout time.Duration
	LogLevel        string // debug, info, warn or error
	MetricsNS       string
}

// Load reads the configuration through getenv (os.Getenv in production).
// It reports every problem it finds, not only the first.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID:        strings.TrimSpace(getenv(EnvSecretID)),
		BaseURL:         DefaultBaseURL,
		BackupBaseURL:   DefaultBackupBaseURL,
		SecretCacheTTL:  DefaultSecretCacheTTL,
		UpstreamTimeout: DefaultUpstreamTimeout,
		LogLevel:        DefaultLogLevel,
		MetricsNS:       DefaultMetricsNamespace,
	}
	var errs []error
	if c.SecretID == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvSecretID))
	}
	if v := getenv(EnvBaseURL); v != "" {
		c.BaseURL = v
	}
	if err := CheckBaseURL(c.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvBaseURL, err))
	}
	if v := getenv(EnvBackupBaseURL); v != "" {
		c.BackupBaseURL = v
	}
	if strings.EqualFold(c.BackupBaseURL, BackupOff) {
		c.BackupBaseURL = ""
	} else if err := CheckBaseURL(c.BackupBaseURL); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvBackupBaseURL, err))
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.BackupBaseURL = strings.TrimRight(c.BackupBaseURL, "/")
	var err error
	if c.SecretCacheTTL, err = duration(getenv, EnvSecretCacheTTL, DefaultSecretCacheTTL, 0); err != nil {
		errs = append(errs, err)
	}
	if c.UpstreamTimeout, err = duration(getenv, EnvUpstreamTimout, DefaultUpstreamTimeout, time.Millisecond); err != nil {
		errs = append(errs, err)
	}
	if v := strings.ToLower(strings.TrimSpace(getenv(EnvLogLevel))); v != "" {
		switch v {
		case "debug", "info", "warn", "error":
			c.LogLevel = v
		default:
			errs = append(errs, fmt.Errorf("%s must be debug, info, warn or error, not %q", EnvLogLevel, v))
		}
	}
	if v := strings.TrimSpace(getenv(EnvMetricsNS)); v != "" {
		c.MetricsNS = v
	}
	return c, errors.Join(errs...)
}

func duration(getenv func(string) string, name string, def, min time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s must be a Go duration such as %s: %w", name, def, err)
	}
	if d < min {
		return 0, fmt.Errorf("%s must be at least %s, not %s", name, min, d)
	}
	return d, nil
}

// CheckBaseURL reports whether u may be used as a WeChat Pay origin: an
// https URL with a host and no path, query or credentials; plain http only
// for a loopback host (127.0.0.0/8, ::1, localhost), for local runs and tests.
func CheckBaseURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if p.Host == "" || p.User != nil || (p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.Fragment != "" {
		return fmt.Errorf("%q must be an origin such as https://api.mch.weixin.qq.com", u)
	}
	switch p.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(p.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https (plain http is allowed only for a loopback host)", u)
	default:
		return fmt.Errorf("%q must use https", u)
	}
}

// IsLoopback reports whether host names this machine: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
