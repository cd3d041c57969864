// Package receivertest tests the SIEM outputs against receivers written
// independently of them: the OpenTelemetry Collector's splunkhecreceiver
// for Splunk HEC and Elastic's go-docappender test server for _bulk. It is a
// module of its own so that their heavy dependency trees stay out of the
// main module.
package receivertest
