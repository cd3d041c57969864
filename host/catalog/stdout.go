package catalog

import (
	"bytes"
	"io"
	"sync"
)

// lineWriter relays one plugin's stdout, which go-plugin delivers in chunks
// that ignore line boundaries, as whole lines: several plugins printing at
// once never interleave mid-line.
type lineWriter struct {
	mu  *sync.Mutex // shared by every plugin writing to out
	out io.Writer
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	i := bytes.LastIndexByte(w.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	w.mu.Lock()
	_, err := w.out.Write(w.buf[:i+1])
	w.mu.Unlock()
	w.buf = append(w.buf[:0], w.buf[i+1:]...)
	return len(p), err
}
