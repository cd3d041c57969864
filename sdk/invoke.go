package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Built-in operations every plugin answers through Invoke, PlugPipe style.
const (
	OpGetStatus = "get_status"
	OpDescribe  = "describe"
	OpProcess   = "process" // args: {"records": [event, ...]} → the batch Process returns
)

// invoke answers an operation: the plugin's own Invoker first, then the built-ins.
func (in *instance) invoke(ctx context.Context, op string, args json.RawMessage) (res json.RawMessage, err error) {
	defer recoverTo(&err)
	if inv, ok := in.plugin.(Invoker); ok {
		v, err := inv.Invoke(ctx, op, args)
		var unknown ErrUnknownOperation
		if !errors.As(err, &unknown) {
			if err != nil {
				return nil, err
			}
			return json.Marshal(v)
		}
	}
	switch op {
	case OpDescribe:
		return json.Marshal(in.def)
	case OpGetStatus:
		status := map[string]any{
			"plugin": in.def.Name, "kind": in.def.Kind, "version": in.def.Version, "healthy": true,
		}
		if err := in.health(ctx); err != nil {
			status["healthy"], status["health_error"] = false, err.Error()
		}
		return json.Marshal(status)
	case OpProcess:
		return in.invokeProcess(ctx, args)
	}
	return nil, ErrUnknownOperation(op)
}

func (in *instance) invokeProcess(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
	var req struct {
		Records []json.RawMessage `json:"records"`
	}
	if len(args) > 0 {
		if err := json.Unmarshal(args, &req); err != nil {
			return nil, fmt.Errorf("process: args must be {\"records\": [...]}: %w", err)
		}
	}
	b := &Batch{}
	for i, raw := range req.Records {
		r, err := NewRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("process: record %d: %w", i, err)
		}
		b.Records = append(b.Records, r)
	}
	kind := FrameProcess
	if in.def.Kind == KindInput {
		kind = FramePoll
	}
	out, err := in.process(ctx, &Frame{Kind: kind, Batch: b})
	if err != nil {
		return nil, err
	}
	resp := struct {
		Records  []json.RawMessage `json:"records"`
		Rejected []Rejection       `json:"rejected,omitempty"`
	}{Records: []json.RawMessage{}, Rejected: out.Rejected}
	for _, r := range out.Records {
		resp.Records = append(resp.Records, r.Body)
	}
	return json.Marshal(resp)
}
