package jsonl

import (
	"bytes"
	"errors"
	"io"
)

// initialBuffer is the read buffer of one source. Large reads keep syscalls
// rare; a line longer than this grows the buffer up to max_line.
const initialBuffer = 256 << 10

type lineKind int

const (
	lineNone    lineKind = iota // no complete line yet: wait for more data
	lineOK                      // a complete line
	lineTooLong                 // a line longer than max_line: its first max_line bytes
)

// lineReader splits a stream into lines in place, with no copy, and keeps
// the stream offset of every line so that progress can be committed.
// Returned lines alias its buffer and are valid until the next call.
type lineReader struct {
	buf        []byte
	start, end int   // unread bytes are buf[start:end]
	off        int64 // stream offset of buf[start]
	maxLine    int
	skipping   bool  // inside an over-long line, dropping bytes up to its newline
	skipStart  int64 // offset where the over-long line began
	eof        bool  // the last read hit the end of the data
}

func newLineReader(maxLine int, off int64) lineReader {
	size := initialBuffer
	if maxLine+1 < size {
		size = maxLine + 1
	}
	return lineReader{buf: make([]byte, size), maxLine: maxLine, off: off}
}

// reset restarts at offset off, dropping buffered data (a truncated file).
func (lr *lineReader) reset(off int64) {
	lr.start, lr.end, lr.off, lr.skipping, lr.eof = 0, 0, off, false, false
}

// committable is the offset up to which every line has been handed out:
// inside an over-long line it is that line's start, so a restart re-reads
// it whole instead of taking its tail for a line of its own.
func (lr *lineReader) committable() int64 {
	if lr.skipping {
		return lr.skipStart
	}
	return lr.off
}

// buffered reports whether unread bytes wait in the buffer.
func (lr *lineReader) buffered() bool { return lr.end > lr.start }

// next returns the next line without its line ending and the offset it
// starts at. final says no more data will come after the end of r, so a last
// line without a newline is a line. r may return (0, nil) when it has
// nothing yet (stdin); that is lineNone.
func (lr *lineReader) next(r io.Reader, final bool) (lineKind, []byte, int64, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
			line, off := lr.buf[lr.start:lr.start+i], lr.off
			lr.start += i + 1
			lr.off += int64(i + 1)
			if lr.skipping {
				lr.skipping = false
				continue
			}
			if len(line) > lr.maxLine {
				return lineTooLong, line[:lr.maxLine], off, nil
			}
			return lineOK, trimCR(line), off, nil
		}
		pending := lr.end - lr.start
		if lr.skipping {
			lr.off += int64(pending)
			lr.start, lr.end = 0, 0
		} else if pending > lr.maxLine {
			// Hand out the head for the dead-letter file and drop the rest
			// of the line as it arrives: memory stays bounded by max_line.
			line, off := lr.buf[lr.start:lr.start+lr.maxLine], lr.off
			lr.skipping, lr.skipStart = true, off
			lr.off += int64(pending)
			lr.start = lr.end
			return lineTooLong, line, off, nil
		}
		if lr.eof && final && lr.end > lr.start {
			line, off := lr.buf[lr.start:lr.end], lr.off
			lr.off += int64(lr.end - lr.start)
			lr.start = lr.end
			return lineOK, trimCR(line), off, nil
		}
		if lr.eof && final && lr.skipping {
			lr.skipping = false
		}
		n, err := lr.fill(r)
		if n > 0 {
			continue
		}
		if err != nil {
			return lineNone, nil, 0, err
		}
		if lr.eof && final && lr.end > lr.start {
			continue // hand out the unterminated last line
		}
		return lineNone, nil, 0, nil
	}
}

// fill reads more data after the unread bytes, compacting or growing the
// buffer first. io.EOF is not an error: it sets eof.
func (lr *lineReader) fill(r io.Reader) (int, error) {
	if lr.start > 0 {
		if lr.start == lr.end && len(lr.buf) > 4*initialBuffer {
			lr.buf = make([]byte, initialBuffer) // give back a long line's buffer
		} else {
			copy(lr.buf, lr.buf[lr.start:lr.end])
		}
		lr.end -= lr.start
		lr.start = 0
	}
	if lr.end == len(lr.buf) {
		size := 2 * len(lr.buf)
		if size > lr.maxLine+1 {
			size = lr.maxLine + 1
		}
		grown := make([]byte, size)
		copy(grown, lr.buf[:lr.end])
		lr.buf = grown
	}
	n, err := r.Read(lr.buf[lr.end:])
	lr.end += n
	switch {
	case n > 0:
		lr.eof = false
		return n, nil
	case errors.Is(err, io.EOF):
		lr.eof = true
		return 0, nil
	case err == nil:
		lr.eof = false
	}
	return 0, err
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}
