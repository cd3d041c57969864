// Command deny_tools is a Sentinel filter plugin written the way a user
// writes one: drop audit events for denied tools, tag the rest.
package main

import "github.com/sentinel-audit/sentinel/sdk"

func main() { sdk.Serve(Definition) }
