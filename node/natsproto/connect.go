package natsproto

import (
	"encoding/json"
	"fmt"
)

// Client protocol levels a CONNECT may announce.
const (
	ClientProtoZero = 0 // original protocol
	ClientProtoInfo = 1 // accepts async INFO
)

// Connect holds the CONNECT options a server acts on, plus identity and
// credentials that are recorded but not checked.
type Connect struct {
	Verbose      bool   `json:"verbose"`
	Pedantic     bool   `json:"pedantic"`
	TLSRequired  bool   `json:"tls_required"`
	Name         string `json:"name,omitempty"`
	Lang         string `json:"lang,omitempty"`
	Version      string `json:"version,omitempty"`
	Protocol     int    `json:"protocol"`
	Echo         bool   `json:"echo"`
	Headers      bool   `json:"headers"`
	NoResponders bool   `json:"no_responders"`
	User         string `json:"user,omitempty"`
	Pass         string `json:"pass,omitempty"`
	AuthToken    string `json:"auth_token,omitempty"`
	JWT          string `json:"jwt,omitempty"`
	NKey         string `json:"nkey,omitempty"`
	Sig          string `json:"sig,omitempty"`
}

// DefaultConnect is what a connection behaves as before (and, for
// fields a CONNECT omits, after) its CONNECT: nats-server starts
// clients verbose, pedantic and with echo on.
func DefaultConnect() Connect {
	return Connect{Verbose: true, Pedantic: true, Echo: true}
}

// Decode merges a CONNECT JSON argument into c: fields present in the
// JSON overwrite, absent ones keep their current values.
func (c *Connect) Decode(arg []byte) error {
	if err := json.Unmarshal(arg, c); err != nil {
		return fmt.Errorf("natsproto: decode CONNECT: %w", err)
	}
	return nil
}
