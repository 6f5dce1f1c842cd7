//go:build race

package chaos_test

// raceEnabled: the test runs under the race detector, so the nodes it
// builds are too.
const raceEnabled = true
