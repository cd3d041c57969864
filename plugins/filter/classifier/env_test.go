package classifier

import (
	"encoding/json"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

func TestComplianceFrameworkEnvAppliesWhenConfigNamesNone(t *testing.T) {
	t.Setenv("COMPLIANCE_FRAMEWORK", "SOX, GDPR")
	var cfg Config
	if err := (sdk.Config{Raw: json.RawMessage(`{}`)}).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.frameworksFromEnv()
	if len(cfg.Frameworks) != 2 || cfg.Frameworks[0] != "SOX" || cfg.Frameworks[1] != "GDPR" {
		t.Fatalf("frameworks %v", cfg.Frameworks)
	}
	cfg = Config{Frameworks: []string{"hipaa"}}
	cfg.frameworksFromEnv()
	if len(cfg.Frameworks) != 1 || cfg.Frameworks[0] != "hipaa" {
		t.Fatalf("configured frameworks must win over the environment: %v", cfg.Frameworks)
	}
	t.Setenv("COMPLIANCE_FRAMEWORK", "nope")
	if err := (&Classifier{}).Validate(sdk.Config{Raw: json.RawMessage(`{}`)}); err == nil {
		t.Fatal("an unknown framework from COMPLIANCE_FRAMEWORK must fail validation")
	}
}
