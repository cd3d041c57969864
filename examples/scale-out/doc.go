// Package scaleout holds the scale-out example's configurations (edge hosts
// publish to NATS JetStream, a pool of hosts consumes it) and the test that
// keeps them valid.
package scaleout
