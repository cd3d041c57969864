package nats

import (
	"fmt"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/nats/natsconn"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Defaults, shared by the schema and by Configure (which may be handed raw
// JSON without the host's defaults, e.g. in tests or `sentinel call`).
const (
	defaultStream          = "MCP_AUDIT"
	defaultSubjectPrefix   = "mcp.audit"
	defaultReplicas        = 1
	defaultRetention       = "limits"
	defaultStorage         = "file"
	defaultDuplicateWindow = 2 * time.Minute
	defaultMaxPending      = 512
	defaultPublishTimeout  = 10 * time.Second
)

// Config is the nats output's arguments.
type Config struct {
	natsconn.Config

	// Stream is the JetStream stream that captures subject_prefix.>.
	Stream string `json:"stream"`
	// SubjectPrefix is prepended to the event type: mcp.audit.mcp_tool_execution.
	SubjectPrefix string `json:"subject_prefix"`
	// CreateStream creates the stream at start when missing.
	CreateStream    bool         `json:"create_stream"`
	Replicas        int          `json:"replicas"`
	Retention       string       `json:"retention"`
	Storage         string       `json:"storage"`
	MaxAge          sdk.Duration `json:"max_age"`
	MaxBytes        sdk.Size     `json:"max_bytes"`
	DuplicateWindow sdk.Duration `json:"duplicate_window"`
	// MaxPending caps publishes awaiting their PubAck.
	MaxPending     int          `json:"max_pending"`
	PublishTimeout sdk.Duration `json:"publish_timeout"`
}

func (c *Config) Defaults() {
	c.Config.ApplyDefaults()
	if c.Stream == "" {
		c.Stream = defaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = defaultSubjectPrefix
	}
	if c.Replicas == 0 {
		c.Replicas = defaultReplicas
	}
	if c.Retention == "" {
		c.Retention = defaultRetention
	}
	if c.Storage == "" {
		c.Storage = defaultStorage
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = sdk.Duration(defaultDuplicateWindow)
	}
	if c.MaxPending == 0 {
		c.MaxPending = defaultMaxPending
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = sdk.Duration(defaultPublishTimeout)
	}
}

// Validate reports arguments that cannot work, pointing at the argument.
func (c *Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if !validName(c.Stream) {
		return sdk.Fieldf("stream", "stream names may not contain spaces, '.', '*', '>', '/' or '\\', got %q", c.Stream)
	}
	if err := validPrefix(c.SubjectPrefix); err != nil {
		return sdk.Fieldf("subject_prefix", "%v", err)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return sdk.Fieldf("replicas", "JetStream allows 1 to 5 replicas, got %d", c.Replicas)
	}
	switch c.Retention {
	case "limits", "workqueue", "interest":
	default:
		return sdk.Fieldf("retention", "must be limits, workqueue or interest, got %q", c.Retention)
	}
	if c.Storage != "file" && c.Storage != "memory" {
		return sdk.Fieldf("storage", "must be file or memory, got %q", c.Storage)
	}
	if c.MaxAge.Std() < 0 || c.MaxBytes < 0 {
		return sdk.Fieldf("max_age", "limits must not be negative")
	}
	if c.DuplicateWindow.Std() < time.Second {
		return sdk.Fieldf("duplicate_window", "must be at least 1s: it is what makes retried publishes idempotent")
	}
	if c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge {
		return sdk.Fieldf("duplicate_window", "must not exceed max_age (%s)", c.MaxAge.Std())
	}
	if c.MaxPending < 1 || c.MaxPending > 65536 {
		return sdk.Fieldf("max_pending", "must be between 1 and 65536, got %d", c.MaxPending)
	}
	if c.PublishTimeout.Std() < 10*time.Millisecond {
		return sdk.Fieldf("publish_timeout", "must be at least 10ms")
	}
	return nil
}

// validName is JetStream's rule for stream and consumer names.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n.*>/\\")
}

func validPrefix(p string) error {
	if p == "" {
		return fmt.Errorf("a subject prefix is required: the stream captures <subject_prefix>.>")
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return fmt.Errorf("a subject prefix is dot-separated tokens without spaces or wildcards, got %q", p)
		}
	}
	return nil
}

var configSchema = sdk.Schema{Fields: append(append([]sdk.Field(nil), natsconn.Fields...),
	sdk.Field{
		Name: "stream", Type: sdk.TypeString, Default: defaultStream,
		Description: "JetStream stream the events are stored in. It must capture `<subject_prefix>.>`; " +
			"with create_stream it is created (or checked) at start.",
		Example: `"MCP_AUDIT"`,
	},
	sdk.Field{
		Name: "subject_prefix", Type: sdk.TypeString, Default: defaultSubjectPrefix,
		Description: "Each event is published on `<subject_prefix>.<event_type>` (e.g. " +
			"mcp.audit.mcp_tool_execution), so consumers can filter by type. Characters that NATS " +
			"reserves in a subject token ('.', '*', '>', spaces) become '_'; no type gives `unknown`.",
		Example: `"mcp.audit"`,
	},
	sdk.Field{
		Name: "create_stream", Type: sdk.TypeBool, Default: false,
		Description: "Create the stream at start if it does not exist, with the replicas, retention, storage, " +
			"max_age, max_bytes and duplicate_window below; an existing stream is only checked to " +
			"capture the subjects. false expects the operator to manage the stream.",
		Example: "true",
	},
	sdk.Field{
		Name: "replicas", Type: sdk.TypeInt, Default: defaultReplicas,
		Description: "Copies of each message kept by a clustered JetStream (1-5). 3 survives the loss of one " +
			"server without losing acknowledged events; a PubAck is sent only after a quorum stored it.",
		Example: "3",
	},
	sdk.Field{
		Name: "retention", Type: sdk.TypeString, Default: defaultRetention, Enum: []string{"limits", "workqueue", "interest"},
		Description: "Stream retention for create_stream. limits keeps events until max_age/max_bytes (replay, " +
			"several consumer groups); workqueue deletes an event once a consumer acked it (one consumer group " +
			"only); interest deletes it once every consumer acked it.",
		Example: `"limits"`,
	},
	sdk.Field{
		Name: "storage", Type: sdk.TypeString, Default: defaultStorage, Enum: []string{"file", "memory"},
		Description: "Stream storage for create_stream: file (durable) or memory (lost when a server restarts).",
		Example:     `"file"`,
	},
	sdk.Field{
		Name: "max_age", Type: sdk.TypeDuration, Default: "0s",
		Description: "Stream max_age for create_stream: events older than this are removed (0: no limit). " +
			"Size it to outlast the longest outage of the consuming hosts.",
		Example: `"7d"`,
	},
	sdk.Field{
		Name: "max_bytes", Type: sdk.TypeSize, Default: "0",
		Description: "Stream max_bytes for create_stream (0: no limit). When full, limits retention removes the " +
			"oldest events, read or not; workqueue and interest refuse publishes (retried by this output, " +
			"so the edges back-pressure) and never drop an unread event.",
		Example: `"50GiB"`,
	},
	sdk.Field{
		Name: "duplicate_window", Type: sdk.TypeDuration, Default: "2m",
		Description: "Stream duplicate window for create_stream: a message whose Nats-Msg-Id (the event id) was " +
			"seen within it is stored once, so a batch retried after a lost PubAck is not stored twice.",
		Example: `"10m"`,
	},
	sdk.Field{
		Name: "max_pending", Type: sdk.TypeInt, Default: defaultMaxPending,
		Description: "Publishes in flight awaiting their PubAck. Publishing pauses at the cap, which bounds memory " +
			"and pushes back on the pipeline.",
		Example: "1024",
	},
	sdk.Field{
		Name: "publish_timeout", Type: sdk.TypeDuration, Default: "10s",
		Description: "How long a publish waits for its PubAck; those that time out are retried by the host " +
			"(the duplicate window removes copies).",
		Example: `"5s"`,
	},
)}
