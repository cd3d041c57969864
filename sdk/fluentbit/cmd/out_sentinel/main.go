// Command out_sentinel is Sentinel's Fluent Bit output plugin, built as a
// shared object (`make fluentbit` -> dist/out_sentinel.so) and loaded by
// Fluent Bit with `plugins.conf` / `-e`. It holds every Sentinel output and,
// through the `pipeline` key, the whole audit chain; see package fluentbit.
//
// Every export recovers panics: a panic escaping into Fluent Bit's C stack
// would kill the Fluent Bit process.
package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/sentinel-audit/sentinel/sdk/fluentbit"
)

var logger = fluentbit.Logger()

func recovered(where string, code *C.int, onPanic int) {
	if v := recover(); v != nil {
		logger.Error("panic in Fluent Bit callback", "callback", where, "panic", fmt.Sprint(v))
		*code = C.int(onPanic)
	}
}

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) (code C.int) {
	defer recovered("FLBPluginRegister", &code, output.FLB_ERROR)
	return C.int(output.FLBPluginRegister(def, fluentbit.PluginName,
		"Sentinel: MCP audit events to a tamper-evident store and SIEMs (file, splunk_hec, elasticsearch, microsoft_sentinel, chronicle)"))
}

//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	defer func() {
		if v := recover(); v != nil {
			logger.Error("panic in Fluent Bit callback", "callback", "FLBPluginUnregister", "panic", fmt.Sprint(v))
		}
	}()
	output.FLBPluginUnregister(def)
}

// FLBPluginInit is called once per [OUTPUT] section.
//
//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) (code C.int) {
	defer recovered("FLBPluginInit", &code, output.FLB_ERROR)
	out, err := fluentbit.Open(func(key string) string { return output.FLBPluginConfigKey(plugin, key) }, logger)
	if err != nil {
		logger.Error("cannot start output", "error", err)
		return output.FLB_ERROR
	}
	output.FLBPluginSetContext(plugin, out)
	return output.FLB_OK
}

// FLBPluginFlushCtx may run on several Fluent Bit workers at once.
//
//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) (code C.int) {
	defer recovered("FLBPluginFlushCtx", &code, output.FLB_RETRY)
	out, ok := output.FLBPluginGetContext(ctx).(*fluentbit.Output)
	if !ok {
		logger.Error("flush for an unknown output context; was FLBPluginInit successful?")
		return output.FLB_ERROR
	}
	if length <= 0 || data == nil {
		return output.FLB_OK
	}
	// The chunk is Fluent Bit's memory, valid for this call: decode it in
	// place (the records copy what they keep).
	chunk := unsafe.Slice((*byte)(data), int(length))
	return C.int(out.Flush(chunk, C.GoString(tag)))
}

//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) (code C.int) {
	defer recovered("FLBPluginExitCtx", &code, output.FLB_ERROR)
	if out, ok := output.FLBPluginGetContext(ctx).(*fluentbit.Output); ok {
		if err := out.Close(); err != nil {
			logger.Error("output did not close cleanly", "error", err)
			return output.FLB_ERROR
		}
	}
	return output.FLB_OK
}

//export FLBPluginExit
func FLBPluginExit() (code C.int) {
	defer recovered("FLBPluginExit", &code, output.FLB_ERROR)
	if err := fluentbit.CloseAll(); err != nil {
		logger.Error("outputs did not close cleanly", "error", err)
		return output.FLB_ERROR
	}
	return output.FLB_OK
}

func main() {}
