package main

import (
	"net"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// tcpProxy stands between the sidecar and the database so a test can take
// the database "down" (every connection cut, new ones refused) and bring it
// back, as a stopped and restarted server would look to the sidecar; or
// make it a black hole (nothing answers, nothing is refused: bytes wait, as
// behind a dropped route or a hung server) and let the traffic flow again.
type tcpProxy struct {
	t      testing.TB
	target string
	dsn    string
	l      net.Listener
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
	gate   chan struct{} // closed while traffic flows; open while a black hole
}

func newTCPProxy(t testing.TB, dsn string) *tcpProxy {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: cfg.Addr, l: l, conns: map[net.Conn]bool{}, gate: make(chan struct{})}
	close(p.gate)
	cfg.Addr = l.Addr().String()
	p.dsn = cfg.FormatDSN()
	go p.serve()
	t.Cleanup(func() { l.Close(); p.setBlackHole(false); p.setDown(true) })
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		gate := p.gate
		p.mu.Unlock()
		<-gate // a black hole accepts, then says nothing
		p.mu.Lock()
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			<-gate
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// setBlackHole holds every byte in both directions and every new
// connection (true), or lets them through again (false).
func (p *tcpProxy) setBlackHole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	open := p.gate
	select {
	case <-open: // flowing
		if on {
			p.gate = make(chan struct{})
		}
	default: // holding
		if !on {
			close(open)
		}
	}
}

// setDown cuts every connection and refuses new ones (true), or lets them
// through again (false).
func (p *tcpProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}
