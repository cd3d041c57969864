package anomaly_detector

import (
	"path"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Config is the anomaly_detector block; the schema in anomaly_detector.go documents it.
type Config struct {
	AuthFailureThreshold     int          `json:"auth_failure_threshold"`
	AuthFailureWindow        sdk.Duration `json:"auth_failure_window"`
	ErrorRateThreshold       float64      `json:"error_rate_threshold"`
	ErrorRateMinCalls        int          `json:"error_rate_min_calls"`
	ErrorRateWindow          sdk.Duration `json:"error_rate_window"`
	RateLimitThreshold       int          `json:"rate_limit_threshold"`
	RateLimitWindow          sdk.Duration `json:"rate_limit_window"`
	PrivilegedTools          []string     `json:"privileged_tools"`
	EscalationWindow         sdk.Duration `json:"escalation_window"`
	FirstToolUse             *bool        `json:"first_tool_use"`
	BaselineMinCalls         int          `json:"baseline_min_calls"`
	BaselineMinutes          int          `json:"baseline_minutes"`
	RateSpikeFactor          float64      `json:"rate_spike_factor"`
	RateSpikeMin             int          `json:"rate_spike_min"`
	PolicyViolationThreshold int          `json:"policy_violation_threshold"`
	PolicyViolationWindow    sdk.Duration `json:"policy_violation_window"`
	QuietAfter               sdk.Duration `json:"quiet_after"`
	VolumeDropRatio          float64      `json:"volume_drop_ratio"`
	VolumeMinRate            int          `json:"volume_min_rate"`
	MaxKeys                  int          `json:"max_keys"`

	ToolPoisoning    *bool    `json:"tool_poisoning"`
	Injection        *bool    `json:"injection"`
	Secrets          *bool    `json:"secrets"`
	TokenPassthrough *bool    `json:"token_passthrough"`
	TokenAudiences   []string `json:"token_audiences"`
	KnownServers     []string `json:"known_servers"`
}

const (
	defaultAuthFailures     = 5
	defaultErrorRate        = 0.5
	defaultErrorMinCalls    = 10
	defaultRateLimits       = 5
	defaultBaselineCalls    = 20
	defaultBaselineMinutes  = 5
	defaultSpikeFactor      = 5.0
	defaultSpikeMin         = 30
	defaultPolicyViolations = 10
	defaultDropRatio        = 0.1
	defaultVolumeMinRate    = 10
	defaultMaxKeys          = 10000
	// maxErrorSamples caps the outcomes kept per server or tool.
	maxErrorSamples = 256
)

func (c *Config) applyDefaults() {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *sdk.Duration, d time.Duration) {
		if *v == 0 {
			*v = sdk.Duration(d)
		}
	}
	setFloat := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	setBool := func(v **bool) {
		if *v == nil {
			t := true
			*v = &t
		}
	}
	setInt(&c.AuthFailureThreshold, defaultAuthFailures)
	setDur(&c.AuthFailureWindow, time.Minute)
	setFloat(&c.ErrorRateThreshold, defaultErrorRate)
	setInt(&c.ErrorRateMinCalls, defaultErrorMinCalls)
	setDur(&c.ErrorRateWindow, 5*time.Minute)
	setInt(&c.RateLimitThreshold, defaultRateLimits)
	setDur(&c.RateLimitWindow, time.Minute)
	setDur(&c.EscalationWindow, 10*time.Minute)
	setBool(&c.FirstToolUse)
	setInt(&c.BaselineMinCalls, defaultBaselineCalls)
	setInt(&c.BaselineMinutes, defaultBaselineMinutes)
	setFloat(&c.RateSpikeFactor, defaultSpikeFactor)
	setInt(&c.RateSpikeMin, defaultSpikeMin)
	setInt(&c.PolicyViolationThreshold, defaultPolicyViolations)
	setDur(&c.PolicyViolationWindow, 5*time.Minute)
	setDur(&c.QuietAfter, 2*time.Minute)
	setFloat(&c.VolumeDropRatio, defaultDropRatio)
	setInt(&c.VolumeMinRate, defaultVolumeMinRate)
	setInt(&c.MaxKeys, defaultMaxKeys)
	setBool(&c.ToolPoisoning)
	setBool(&c.Injection)
	setBool(&c.Secrets)
	setBool(&c.TokenPassthrough)
}

// Validate rejects values no detector can work with; zero means "default".
func (c *Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"auth_failure_threshold", c.AuthFailureThreshold}, {"error_rate_min_calls", c.ErrorRateMinCalls},
		{"rate_limit_threshold", c.RateLimitThreshold}, {"baseline_min_calls", c.BaselineMinCalls},
		{"baseline_minutes", c.BaselineMinutes}, {"rate_spike_min", c.RateSpikeMin},
		{"policy_violation_threshold", c.PolicyViolationThreshold}, {"volume_min_rate", c.VolumeMinRate},
		{"max_keys", c.MaxKeys},
	} {
		if f.v < 0 {
			return sdk.Fieldf(f.name, "must be positive (0 takes the default), got %d", f.v)
		}
	}
	if c.AuthFailureThreshold > 10000 || c.RateLimitThreshold > 10000 || c.PolicyViolationThreshold > 10000 {
		return sdk.Fieldf("auth_failure_threshold", "burst thresholds above 10000 would hold too much evidence per key")
	}
	if c.ErrorRateThreshold < 0 || c.ErrorRateThreshold > 1 {
		return sdk.Fieldf("error_rate_threshold", "is a fraction of calls between 0 and 1, got %g", c.ErrorRateThreshold)
	}
	if c.ErrorRateMinCalls > maxErrorSamples {
		return sdk.Fieldf("error_rate_min_calls", "at most %d (the outcomes kept per server or tool)", maxErrorSamples)
	}
	if c.VolumeDropRatio < 0 || c.VolumeDropRatio >= 1 {
		return sdk.Fieldf("volume_drop_ratio", "is a fraction of the baseline between 0 and 1, got %g", c.VolumeDropRatio)
	}
	if c.RateSpikeFactor < 0 || (c.RateSpikeFactor > 0 && c.RateSpikeFactor < 1) {
		return sdk.Fieldf("rate_spike_factor", "must be above 1 (a multiple of the baseline), got %g", c.RateSpikeFactor)
	}
	if c.MaxKeys > 10_000_000 {
		return sdk.Fieldf("max_keys", "at most 10000000")
	}
	for _, list := range []struct {
		name string
		xs   []string
	}{{"privileged_tools", c.PrivilegedTools}, {"known_servers", c.KnownServers}} {
		for _, p := range list.xs {
			if _, err := path.Match(p, ""); err != nil {
				return sdk.Fieldf(list.name, "bad pattern %q: %v", p, err)
			}
		}
	}
	return nil
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}
