package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream"
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream/bitstreamsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud/cryptocloudsim"
	"github.com/wcbridge/wcbridge/bridge/gateway/simkit"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay/streampaysim"
)

// Simulators are the three gateway simulators, serving on loopback. Tests,
// the demo and `wcbridge simulate` drive them through simkit.Simulator (Get);
// the typed fields are for what only one gateway has.
type Simulators struct {
	StreamPay   *streampaysim.Simulator
	CryptoCloud *cryptocloudsim.Simulator
	Bitstream   *bitstreamsim.Simulator
	URLs        map[string]string // gateway name -> base URL
	byName      map[string]simkit.Simulator
	servers     []*http.Server
}

// Get returns the named gateway's simulator (nil for an unknown name).
func (s *Simulators) Get(name string) simkit.Simulator { return s.byName[name] }

// SimulatorSetup says where the simulators listen and whom they call back.
type SimulatorSetup struct {
	// Listen addresses ("127.0.0.1:0" picks a port).
	StreamPay, CryptoCloud, Bitstream string
	// CallbackBase is the sidecar's base URL, to which the simulators
	// deliver signed callbacks; Retry spaces their redeliveries.
	CallbackBase string
	Retry        time.Duration
	// ShopReturnURL is CryptoCloud's project success and fail URL: it has
	// no per-invoice return URL, so its pay page sends every customer there.
	ShopReturnURL string
}

// StartSimulators starts the three simulators.
func StartSimulators(c SimulatorSetup) (*Simulators, error) {
	s := &Simulators{URLs: map[string]string{}, byName: map[string]simkit.Simulator{}}
	callbackBase := strings.TrimRight(c.CallbackBase, "/")

	spCfg := streampaysim.DefaultConfig()
	spCfg.CallbackURL = callbackBase + "/v1/callbacks/streampay"
	spCfg.RetryInterval = c.Retry
	s.StreamPay = streampaysim.New(spCfg)

	ccCfg := cryptocloudsim.DefaultConfig()
	ccCfg.CallbackURL = callbackBase + "/v1/callbacks/cryptocloud"
	ccCfg.RetryInterval = c.Retry
	ccCfg.SuccessURL, ccCfg.FailURL = c.ShopReturnURL, c.ShopReturnURL
	s.CryptoCloud = cryptocloudsim.New(ccCfg)

	bsCfg := bitstreamsim.DefaultConfig()
	bsCfg.WebhookURL = callbackBase + "/v1/callbacks/bitstream"
	bsCfg.WebhookRetry = c.Retry
	s.Bitstream = bitstreamsim.New(bsCfg)
	for _, sim := range []simkit.Simulator{s.StreamPay, s.CryptoCloud, s.Bitstream} {
		s.byName[sim.Name()] = sim
	}

	for _, x := range []struct {
		addr string
		sim  simkit.Simulator
	}{{c.StreamPay, s.StreamPay}, {c.CryptoCloud, s.CryptoCloud}, {c.Bitstream, s.Bitstream}} {
		name := x.sim.Name()
		l, err := net.Listen("tcp", x.addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s simulator: listen on %s: %w", name, x.addr, err)
		}
		u := "http://" + l.Addr().String()
		x.sim.SetPublicURL(u)
		s.URLs[name] = u
		hs := &http.Server{Handler: x.sim, ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, hs)
		go hs.Serve(l)
	}
	return s, nil
}

// Close stops the simulators and their callback senders.
func (s *Simulators) Close() {
	for _, hs := range s.servers {
		hs.Close()
	}
	for _, sim := range s.byName {
		sim.Close()
	}
}

// Env returns the WCBRIDGE_* settings that point a sidecar at the simulators.
func (s *Simulators) Env() []string {
	sp, cc, bs := streampaysim.DefaultConfig(), cryptocloudsim.DefaultConfig(), bitstreamsim.DefaultConfig()
	return []string{
		"WCBRIDGE_GATEWAYS_STREAMPAY_ENABLED=true",
		"WCBRIDGE_GATEWAYS_STREAMPAY_CLIENT_ID=" + sp.ClientIDs[0],
		"WCBRIDGE_GATEWAYS_STREAMPAY_SECRET_KEY=" + sp.SecretKey,
		"WCBRIDGE_GATEWAYS_STREAMPAY_CREATE_URL=" + s.URLs["streampay"] + "/api/v1",
		"WCBRIDGE_GATEWAYS_STREAMPAY_STATUS_URL=" + s.URLs["streampay"] + "/api/v1",
		"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_ENABLED=true",
		"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_API_KEY=" + cc.APIKey,
		"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_SHOP_ID=" + cc.ShopID,
		"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_SECRET_KEY=" + cc.SecretKey,
		"WCBRIDGE_GATEWAYS_CRYPTOCLOUD_BASE_URL=" + s.URLs["cryptocloud"],
		"WCBRIDGE_GATEWAYS_BITSTREAM_ENABLED=true",
		"WCBRIDGE_GATEWAYS_BITSTREAM_API_KEY=" + bs.APIKey,
		"WCBRIDGE_GATEWAYS_BITSTREAM_WEBHOOK_SECRET=" + bs.WebhookSecret,
		"WCBRIDGE_GATEWAYS_BITSTREAM_BASE_URL=" + s.URLs["bitstream"] + "/api/v1",
		"WCBRIDGE_GATEWAYS_BITSTREAM_STATUS_PATH=" + bitstream.DefaultStatusPath,
	}
}

// runSimulate is `wcbridge simulate`: the three simulators on loopback, for
// demos and for shops that want to try wcbridge before they have credentials.
func runSimulate(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	sidecar := fs.String("sidecar", "http://127.0.0.1:8080", "the sidecar's base URL, where callbacks are delivered")
	sp := fs.String("streampay", "127.0.0.1:8091", "StreamPay simulator address")
	cc := fs.String("cryptocloud", "127.0.0.1:8092", "CryptoCloud simulator address")
	bs := fs.String("bitstream", "127.0.0.1:8093", "Bitstream simulator address")
	retry := fs.Duration("retry", 10*time.Second, "callback retry interval (the real gateways wait minutes)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	for _, a := range []string{*sp, *cc, *bs} {
		if host, _, err := net.SplitHostPort(a); err != nil || !isLoopback(host) {
			return fmt.Errorf("%w: simulators listen on loopback only, not %q", errUsage, a)
		}
	}
	sims, err := StartSimulators(SimulatorSetup{StreamPay: *sp, CryptoCloud: *cc, Bitstream: *bs, CallbackBase: *sidecar, Retry: *retry})
	if err != nil {
		return err
	}
	defer sims.Close()
	fmt.Fprintln(stdout, "wcbridge gateway simulators (loopback only):")
	for _, name := range gatewayNames {
		fmt.Fprintf(stdout, "  %-12s %s\n", name, sims.URLs[name])
	}
	fmt.Fprintf(stdout, "callbacks go to %s/v1/callbacks/<gateway>\n\nPoint a sidecar at them with:\n", strings.TrimRight(*sidecar, "/"))
	for _, e := range sims.Env() {
		fmt.Fprintf(stdout, "  export %s\n", e)
	}
	<-ctx.Done()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
