package target

import (
	"fmt"
	"github.com/nats-io/nats.go"
	"strings"

	"github.com/cairnkv/cairn/bench/workload"
)

// Kinds of target.
const (
	Cairn      = "cairn"
	NATSServer = "nats"
	EtcdServer = "etcd"
)

// Kinds lists the target kinds.
var Kinds = []string{Cairn, NATSServer, EtcdServer}

// DefaultURL is where each kind listens by default.
func DefaultURL(kind string) string {
	if kind == EtcdServer {
		return "http://127.0.0.1:2379"
	}
	return "nats://127.0.0.1:4222"
}

// Open returns the target of kind at urls (comma-separated).
func Open(kind, urls string, natsOpts ...nats.Option) (workload.Target, error) {
	if strings.TrimSpace(urls) == "" {
		urls = DefaultURL(kind)
	}
	switch kind {
	case Cairn, NATSServer:
		return NewNATS(kind, urls, natsOpts...), nil
	case EtcdServer:
		return NewEtcd(urls), nil
	default:
		return nil, fmt.Errorf("unknown target %q (have %s)", kind, strings.Join(Kinds, ", "))
	}
}

// Closer is implemented by targets that hold an admin connection.
type Closer interface{ Close() error }
