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
	defaultStream        = "MCP_AUDIT"
	defaultDurable       = "sentinel"
	defaultBatch         = 256
	defaultMaxBytes      = 4 << 20
	defaultMaxWait       = time.Second
	defaultAckWait       = time.Minute
	defaultMaxAckPending = 4096
	deliverAll           = "all"
	deliverNew           = "new"
)

// Config is the nats input's arguments.
type Config struct {
	natsconn.Config

	Stream         string       `json:"stream"`
	Durable        string       `json:"durable"`
	FilterSubjects []string     `json:"filter_subjects"`
	Batch          int          `json:"batch"`
	MaxBytes       sdk.Size     `json:"max_bytes"`
	MaxWait        sdk.Duration `json:"max_wait"`
	AckWait        sdk.Duration `json:"ack_wait"`
	MaxAckPending  int          `json:"max_ack_pending"`
	DeliverPolicy  string       `json:"deliver_policy"`
	// CreateConsumer is a pointer so that an explicit false is told from unset.
	CreateConsumer *bool `json:"create_consumer"`
}

func (c *Config) Defaults() {
	c.Config.ApplyDefaults()
	if c.Stream == "" {
		c.Stream = defaultStream
	}
	if c.Durable == "" {
		c.Durable = defaultDurable
	}
	if c.Batch == 0 {
		c.Batch = defaultBatch
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = defaultMaxBytes
	}
	if c.MaxWait == 0 {
		c.MaxWait = sdk.Duration(defaultMaxWait)
	}
	if c.AckWait == 0 {
		c.AckWait = sdk.Duration(defaultAckWait)
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = defaultMaxAckPending
	}
	if c.DeliverPolicy == "" {
		c.DeliverPolicy = deliverAll
	}
	if c.CreateConsumer == nil {
		yes := true
		c.CreateConsumer = &yes
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
	if !validName(c.Durable) {
		return sdk.Fieldf("durable", "consumer names may not contain spaces, '.', '*', '>', '/' or '\\', got %q", c.Durable)
	}
	for _, f := range c.FilterSubjects {
		if err := validFilter(f); err != nil {
			return sdk.Fieldf("filter_subjects", "%v", err)
		}
	}
	if c.Batch < 1 || c.Batch > 10000 {
		return sdk.Fieldf("batch", "must be between 1 and 10000, got %d", c.Batch)
	}
	if c.MaxBytes < 1024 || c.MaxBytes > 32<<20 {
		return sdk.Fieldf("max_bytes", "must be between 1KiB and 32MiB, got %d", c.MaxBytes)
	}
	if c.MaxWait.Std() < 10*time.Millisecond {
		return sdk.Fieldf("max_wait", "must be at least 10ms")
	}
	if c.AckWait.Std() < 100*time.Millisecond {
		return sdk.Fieldf("ack_wait", "must be at least 100ms")
	}
	if c.MaxAckPending < 1 {
		return sdk.Fieldf("max_ack_pending", "must be at least 1, got %d", c.MaxAckPending)
	}
	if c.MaxAckPending < c.Batch {
		return sdk.Fieldf("max_ack_pending", "must be at least batch (%d): a host holds a whole batch un-acked", c.Batch)
	}
	if c.DeliverPolicy != deliverAll && c.DeliverPolicy != deliverNew {
		return sdk.Fieldf("deliver_policy", "must be %q or %q, got %q", deliverAll, deliverNew, c.DeliverPolicy)
	}
	return nil
}

// validName is JetStream's rule for stream and consumer names.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n.*>/\\")
}

// validFilter accepts a subject with wildcards: '*' as a whole token, '>' as the last one.
func validFilter(f string) error {
	toks := strings.Split(f, ".")
	for i, tok := range toks {
		switch {
		case tok == "" || strings.ContainsAny(tok, " \t\r\n"):
			return fmt.Errorf("bad subject %q", f)
		case tok == ">" && i != len(toks)-1:
			return fmt.Errorf("'>' must be the last token in %q", f)
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("wildcards must be whole tokens in %q", f)
		}
	}
	return nil
}

var configSchema = sdk.Schema{Fields: append(append([]sdk.Field(nil), natsconn.Fields...),
	sdk.Field{
		Name: "stream", Type: sdk.TypeString, Default: defaultStream,
		Description: "JetStream stream to consume, as written by the nats output (or any publisher of event JSON).",
		Example:     `"MCP_AUDIT"`,
	},
	sdk.Field{
		Name: "durable", Type: sdk.TypeString, Default: defaultDurable,
		Description: "Durable pull consumer name. Every host of a pool uses the same name: JetStream hands each " +
			"message to one of them, and re-hands it to another if it is not acknowledged within ack_wait.",
		Example: `"siem-pool"`,
	},
	sdk.Field{
		Name: "filter_subjects", Type: sdk.TypeStringList,
		Description: "Subjects the consumer takes (wildcards allowed); empty takes the whole stream. " +
			"With the nats output's layout, [\"mcp.audit.mcp_security_threats\"] takes one event type.",
		Example: `["mcp.audit.mcp_tool_execution", "mcp.audit.mcp_policy_violations"]`,
	},
	sdk.Field{
		Name: "batch", Type: sdk.TypeInt, Default: defaultBatch,
		Description: "Most messages fetched per poll (one pipeline batch).",
		Example:     "512",
	},
	sdk.Field{
		Name: "max_bytes", Type: sdk.TypeSize, Default: "4MiB",
		Description: "Most message bytes fetched per poll.",
		Example:     `"8MiB"`,
	},
	sdk.Field{
		Name: "max_wait", Type: sdk.TypeDuration, Default: "1s",
		Description: "Longest a fetch waits for messages when the stream has none (the host's poll deadline may cut it shorter).",
		Example:     `"500ms"`,
	},
	sdk.Field{
		Name: "ack_wait", Type: sdk.TypeDuration, Default: "1m",
		Description: "Consumer ack wait: a message not acknowledged this long after it was handed to a host is " +
			"handed out again, to any host of the pool. This is how a host that dies (kill -9, lost machine) " +
			"loses nothing; it should exceed the time a batch normally takes to reach every output, or slow " +
			"deliveries are duplicated (never lost).",
		Example: `"2m"`,
	},
	sdk.Field{
		Name: "max_ack_pending", Type: sdk.TypeInt, Default: defaultMaxAckPending,
		Description: "Consumer limit on messages handed out and not yet acknowledged, across every host of the pool. " +
			"It bounds the memory held in flight; JetStream stops handing out messages at the limit.",
		Example: "10000",
	},
	sdk.Field{
		Name: "deliver_policy", Type: sdk.TypeString, Default: deliverAll, Enum: []string{deliverAll, deliverNew},
		Description: "Where a newly created consumer starts: all (every event the stream holds) or new (events " +
			"published from now on). An existing durable keeps its position.",
		Example: `"new"`,
	},
	sdk.Field{
		Name: "create_consumer", Type: sdk.TypeBool, Default: true,
		Description: "Create the durable consumer, or update it to these settings, at start. false expects the " +
			"operator to manage it (the settings above other than the connection, stream, durable and fetch " +
			"sizes are then ignored).",
		Example: "false",
	},
)}
