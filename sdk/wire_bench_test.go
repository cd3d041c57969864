package sdk_test

import (
	"context"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

type passthrough struct{}

func (passthrough) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	return &sdk.Batch{Records: in.Records}, nil
}

var benchDef = &sdk.Definition{Name: "pass", Kind: sdk.KindFilter, Version: "0", Summary: "s",
	New: func() sdk.Plugin { return passthrough{} }}

// BenchmarkRoundTrip measures one batch through a real gRPC stream and back,
// per record: the cost of one out-of-process hop minus the process switch.
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{128, 1024} {
		b.Run(itoa(size), func(b *testing.B) {
			conn := sdktest.RPC(b, benchDef)
			_ = conn.Configure(context.Background(), "b", b.TempDir(), nil, false)
			s, err := conn.Stream(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			batch := &sdk.Batch{Records: sdktest.Records(size)}
			b.SetBytes(int64(batch.Bytes()))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Send(&sdk.Frame{Kind: sdk.FrameProcess, Seq: uint64(i + 1), Batch: batch}); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Recv(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/record")
		})
	}
}

func itoa(n int) string {
	if n == 128 {
		return "128"
	}
	return "1024"
}
