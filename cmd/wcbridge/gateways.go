package main

import (
	"github.com/wcbridge/wcbridge/bridge/gateway/bitstream"
	"github.com/wcbridge/wcbridge/bridge/gateway/cryptocloud"
	"github.com/wcbridge/wcbridge/bridge/gateway/streampay"
)

// knownGateway is one gateway wcbridge takes payments through; each
// gateway package names itself.
type knownGateway struct {
	Name        string // configuration section, callback path, payment method suffix
	Title       string // how order notes and pages name it
	MethodTitle string // the payment method's default title at checkout
}

// knownGateways is the one list of gateways.
var knownGateways = []knownGateway{
	{streampay.Name, streampay.Title, streampay.MethodTitle},
	{cryptocloud.Name, cryptocloud.Title, cryptocloud.MethodTitle},
	{bitstream.Name, bitstream.Title, bitstream.MethodTitle},
}

// gatewayTitle is the named gateway's title ("" for an unknown name).
func gatewayTitle(name string) string {
	for _, g := range knownGateways {
		if g.Name == name {
			return g.Title
		}
	}
	return ""
}
