package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{EnvSecretID: "arn:aws:secretsmanager:us-east-1:1:secret:m-AbCdEf"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{SecretID: "arn:aws:secretsmanager:us-east-1:1:secret:m-AbCdEf", BaseURL: DefaultBaseURL, BackupBaseURL: DefaultBackupBaseURL,
		SecretCacheTTL: 5 * time.Minute, UpstreamTimeout: 2 * time.Second, LogLevel: "info", MetricsNS: DefaultMetricsNamespace}
	if c != want {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestLoadSettings(t *testing.T) {
	c, err := Load(env(map[string]string{EnvSecretID: "s", EnvBaseURL: "http://127.0.0.1:8081/", EnvBackupBaseURL: "OFF",
		EnvSecretCacheTTL: "0s", EnvUpstreamTimout: "750ms", EnvLogLevel: "DEBUG"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "http://127.0.0.1:8081" || c.BackupBaseURL != "" || c.SecretCacheTTL != 0 || c.UpstreamTimeout != 750*time.Millisecond || c.LogLevel != "debug" {
		t.Errorf("got %+v", c)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "WECHATPAY_SECRET_ID is required"},
		{map[string]string{EnvSecretID: "s", EnvBaseURL: "http://api.mch.weixin.qq.com"}, "must use https"},
		{map[string]string{EnvSecretID: "s", EnvBackupBaseURL: "http://10.0.0.1"}, "must use https"},
		{map[string]string{EnvSecretID: "s", EnvBaseURL: "ftp://x"}, "must use https"},
		{map[string]string{EnvSecretID: "s", EnvBaseURL: "https://x/v3"}, "must be an origin"},
		{map[string]string{EnvSecretID: "s", EnvSecretCacheTTL: "5"}, "SECRET_CACHE_TTL must be a Go duration"},
		{map[string]string{EnvSecretID: "s", EnvUpstreamTimout: "0"}, "UPSTREAM_TIMEOUT must be at least"},
		{map[string]string{EnvSecretID: "s", EnvLogLevel: "verbose"}, "LOG_LEVEL must be"},
	}
	for _, tt := range tests {
		_, err := Load(env(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%v) = %v; want %q", tt.env, err, tt.want)
		}
	}
}

func TestCheckBaseURLLoopback(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1", "http://127.1.2.3", "http://[::1]:80", "http://localhost:3000", "https://api2.mch.weixin.qq.com"} {
		if err := CheckBaseURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://localhost.evil.com", "http://128.0.0.1", "https://user:pw@x"} {
		if CheckBaseURL(u) == nil {
			t.Errorf("%s accepted", u)
		}
	}
}
