package chaos

import (
	"slices"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/chaos/nemesis"
)

// Every nemesis that needs the chaos network must be in netFaults, or a
// run that names it alone never sets the network up and refuses it.
func TestNetFaultsListsEveryNetworkNemesis(t *testing.T) {
	const why = "no network in this test"
	for _, nf := range nemesis.Names() {
		name := nf[0]
		_, _, err := nemesis.Resolve([]string{name}, nemesis.Target{WhyNoNet: why, WhyNoDisks: "-", WhyNoMembers: "-"})
		needsNet := err != nil && strings.Contains(err.Error(), why)
		if needsNet != slices.Contains(netFaults, name) {
			t.Errorf("nemesis %s: needs the network %v, listed in netFaults %v", name, needsNet, slices.Contains(netFaults, name))
		}
	}
}
