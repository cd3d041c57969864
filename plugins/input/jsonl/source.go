package jsonl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// source is one stream of lines: a file, or standard input.
type source struct {
	name      string // the path, or "stdin"
	id        fileID
	r         io.Reader
	f         *os.File // nil for stdin
	lr        lineReader
	done      bool      // read to its end for good
	rotatedAt time.Time // when its path stopped naming it (follow mode)
	headLen   int64
	head      string
}

// readPos is the offset just past everything read from the file so far.
func (s *source) readPos() int64 { return s.lr.off + int64(s.lr.end-s.lr.start) }

func (s *source) close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.done = true
}

// refreshHead extends the fingerprint while the file is shorter than headBytes.
func (s *source) refreshHead() {
	if s.f == nil || s.headLen >= headBytes || s.readPos() <= s.headLen {
		return
	}
	n := min(s.readPos(), headBytes)
	if head, got, err := fingerprint(s.f, n); err == nil {
		s.head, s.headLen = head, got
	}
}

func hasGlobMeta(p string) bool { return strings.ContainsAny(p, "*?[\\") }

// expand lists the files a pattern names now.
func expand(pattern string) []string {
	if !hasGlobMeta(pattern) {
		return []string{pattern}
	}
	matches, _ := filepath.Glob(pattern) // the pattern was checked in Validate
	return matches
}

// discover opens files matching the paths that are not open yet. At start
// (initial) each resumes from its committed offset or start_at; later ones
// are new and read from their beginning. In follow mode it also notices
// rotation (the path names another file now) and truncation.
func (in *Input) discover(initial bool) error {
	seen := make(map[*source]bool, len(in.files))
	for _, pattern := range in.cfg.Paths {
		if pattern == "-" {
			continue
		}
		for _, path := range expand(pattern) {
			info, err := os.Stat(path)
			if err != nil {
				if initial && !in.cfg.Follow && !hasGlobMeta(pattern) {
					return fmt.Errorf("jsonl: %w", err)
				}
				continue // a follower waits for it to appear
			}
			if !info.Mode().IsRegular() {
				continue
			}
			id := keyFor(path, info)
			if s := in.byID[id]; s != nil {
				if s.rotatedAt.IsZero() || s.name != path {
					s.name = path // renamed within the watched set: same file, same progress
				}
				seen[s] = true
				if !initial && info.Size() < s.readPos() {
					in.truncated(s)
				}
				continue
			}
			s, err := in.open(path, id, info, initial)
			if err != nil {
				in.log.Warn("cannot open file", "path", path, "error", err)
				continue
			}
			seen[s] = true
		}
	}
	if initial {
		return nil
	}
	now := time.Now()
	for _, s := range in.files {
		if !s.done && !seen[s] && s.rotatedAt.IsZero() {
			s.rotatedAt = now // rotated or deleted: drain it, then let go
		}
	}
	return nil
}

// open starts reading a newly found file.
func (in *Input) open(path string, id fileID, info os.FileInfo, initial bool) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &source{name: path, id: id, r: f, f: f}
	off := int64(0)
	if initial {
		off = in.resumeOffset(s, info)
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("seek to %d: %w", off, err)
		}
	}
	s.lr = newLineReader(int(in.cfg.MaxLine), off)
	s.head, s.headLen, _ = fingerprint(f, min(info.Size(), headBytes))
	in.files = append(in.files, s)
	in.byID[id] = s
	return s, nil
}

// resumeOffset is where a file found at start begins: its committed offset
// if the state knows this very file, else start_at.
func (in *Input) resumeOffset(s *source, info os.FileInfo) int64 {
	if e := in.loaded[s.id]; e != nil {
		head, _, err := fingerprint(s.f, e.HeadLen)
		switch {
		case e.Offset > info.Size():
			in.log.Warn("file is shorter than its saved offset, reading it from the start", "path", s.name)
		case err != nil || head != e.Head:
			in.log.Warn("file reuses the inode of another file, reading it from the start", "path", s.name)
		default:
			return e.Offset
		}
		return 0
	}
	if in.cfg.StartAt == startEnd {
		return info.Size()
	}
	return 0
}

// truncated restarts a file that shrank under us (copytruncate rotation).
func (in *Input) truncated(s *source) {
	in.log.Info("file was truncated, reading it from the start", "path", s.name)
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		in.log.Warn("cannot rewind truncated file", "path", s.name, "error", err)
		return
	}
	s.lr.reset(0)
	s.head, s.headLen = "", 0
}

// finalAt says whether nothing more will be appended to s, so that a last
// line without a newline counts: finite reading, stdin, or a rotated file
// that stayed quiet for rotateWait.
func (in *Input) finalAt(s *source, now time.Time) bool {
	if s.f == nil || !in.cfg.Follow {
		return true
	}
	return !s.rotatedAt.IsZero() && now.Sub(s.rotatedAt) >= in.rotateWait
}

// stdinReader reads standard input on its own goroutine, because a read from
// a pipe or terminal cannot be interrupted; Read never blocks.
type stdinReader struct {
	chunks chan []byte
	cur    []byte
	ended  bool
	err    error // set by pump before it closes chunks
	stop   chan struct{}
}

func newStdinReader(r io.Reader) *stdinReader {
	s := &stdinReader{chunks: make(chan []byte, 4), stop: make(chan struct{})}
	go s.pump(r)
	return s
}

func (s *stdinReader) pump(r io.Reader) {
	defer close(s.chunks)
	for {
		buf := make([]byte, 64<<10)
		n, err := r.Read(buf)
		if n > 0 {
			select {
			case s.chunks <- buf[:n]:
			case <-s.stop:
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = err // read by Read only after chunks is closed
			}
			return
		}
	}
}

// Read returns buffered data, (0, nil) when none has arrived yet, and io.EOF
// at the end of input.
func (s *stdinReader) Read(p []byte) (int, error) {
	if len(s.cur) == 0 {
		if s.ended {
			if s.err != nil {
				return 0, fmt.Errorf("read stdin: %w", s.err)
			}
			return 0, io.EOF
		}
		select {
		case c, ok := <-s.chunks:
			s.accept(c, ok)
			return s.Read(p)
		default:
			return 0, nil
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// accept takes a receive from chunks made elsewhere (the poll's wait).
func (s *stdinReader) accept(c []byte, ok bool) {
	if !ok {
		s.ended = true
		return
	}
	s.cur = c
}

// waitChan is ready when stdin has data or has ended; nil (never ready)
// while data is buffered or after the end.
func (s *stdinReader) waitChan() <-chan []byte {
	if len(s.cur) > 0 || s.ended {
		return nil
	}
	return s.chunks
}
