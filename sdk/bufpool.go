package sdk

import (
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// wirePool is the buffer pool gRPC reads messages into, on both sides of
// every plugin connection. gRPC's default pool serves any message over
// 32 KiB from 1 MiB buffers and clears a buffer's whole capacity on every
// Get, so each batch of a few hundred KiB cost a megabyte of memclr in every
// process it crossed (about 14% of the host's CPU at full load). Here
// every power of two from 256 bytes to 16 MiB is a class, so a buffer is at
// most twice its message, and nothing is cleared: gRPC fills the length it
// asked for before anything reads it, as its own transport's dirty pools rely on.
type wirePool struct {
	classes [wireMaxShift - wireMinShift + 1]sync.Pool
}

const (
	wireMinShift = 8
	wireMaxShift = 24
)

var wireBuffers = &wirePool{}

// class is the index of the smallest class holding n bytes, or -1 when n is
// over the largest.
func (p *wirePool) class(n int) int {
	if n <= 1<<wireMinShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > wireMaxShift {
		return -1
	}
	return shift - wireMinShift
}

// Get returns a buffer of length n.
func (p *wirePool) Get(n int) *[]byte {
	c := p.class(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(c+wireMinShift))
	return &b
}

// Put takes back a buffer Get returned; anything else (a capacity that is
// not exactly a class) is left to the garbage collector.
func (p *wirePool) Put(b *[]byte) {
	n := cap(*b)
	if n < 1<<wireMinShift || n > 1<<wireMaxShift || n&(n-1) != 0 {
		return
	}
	p.classes[bits.Len(uint(n))-1-wireMinShift].Put(b)
}

// wireCodec is gRPC's proto codec with its scratch buffers taken from
// wireBuffers: the stock codec marshals and gathers every message of more
// than a few KiB through gRPC's default pool, clearing a megabyte each time.
// It keeps the name "proto", so either side may run the stock codec.
type wireCodec struct{}

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("wire codec: %T is not a proto message", v)
	}
	// Size first, so MarshalAppend may reuse the sizes it cached.
	size := proto.Size(m)
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		return mem.BufferSlice{mem.SliceBuffer(b)}, err
	}
	buf := wireBuffers.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		wireBuffers.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, wireBuffers)}, nil
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("wire codec: %T is not a proto message", v)
	}
	buf := data.MaterializeToBuffer(wireBuffers)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}
