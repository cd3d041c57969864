package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// poster sends one prebuilt HTTP/1.1 request again and again over a kept
// alive connection, and reads each answer's status. The driver shares the
// machine with what it measures: net/http's client spent about 1.5 CPU-µs
// per event on requests that never change, a tenth of the machine at full
// load. Prebuilt bytes and a minimal response reader cost a fraction of
// that, which is how wrk and its kind drive servers too.
type poster struct {
	addr string
	req  []byte
	conn net.Conn
	r    *bufio.Reader
}

func newPoster(target, contentType string, body []byte) (*poster, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), u.Host, contentType, len(body))
	return &poster{addr: u.Host, req: append([]byte(head), body...)}, nil
}

// post sends the request and returns the answer's status code, giving up
// after a minute as the driver's HTTP client did. A kept-alive connection
// the server closed meanwhile fails before any answer: that request is sent
// again once on a new connection. Once an answer has begun, it is not: the
// server may have taken the batch, and the driver would count it once.
func (p *poster) post() (int, error) {
	for attempt := 0; ; attempt++ {
		if p.conn == nil {
			conn, err := net.DialTimeout("tcp", p.addr, time.Minute)
			if err != nil {
				return 0, err
			}
			p.conn, p.r = conn, bufio.NewReaderSize(conn, 8<<10)
		}
		_ = p.conn.SetDeadline(time.Now().Add(time.Minute))
		_, err := p.conn.Write(p.req)
		answered := false
		if err == nil {
			var status int
			if status, answered, err = p.readResponse(); err == nil {
				return status, nil
			}
		}
		p.close()
		if answered || attempt > 0 {
			return 0, err
		}
	}
}

func (p *poster) close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// readResponse reads one response: status line, headers, and a body framed
// by Content-Length or chunked encoding, which it discards. answered says
// whether any of it arrived.
func (p *poster) readResponse() (status int, answered bool, err error) {
	line, err := p.r.ReadSlice('\n')
	if answered = len(line) > 0; err != nil {
		return 0, answered, err
	}
	status, err = p.readRest(line)
	return status, true, err
}

func (p *poster) readRest(line []byte) (int, error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		line, err := p.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = p.discardChunks()
	case length >= 0:
		_, err = p.r.Discard(length)
	default:
		return 0, errors.New("response body without a length")
	}
	if closing {
		p.close()
	}
	return status, err
}

func (p *poster) discardChunks() error {
	for {
		line, err := p.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 { // trailers, then the blank line
			for {
				line, err := p.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimSpace(line)) == 0 {
					return nil
				}
			}
		}
		if _, err := p.r.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}
