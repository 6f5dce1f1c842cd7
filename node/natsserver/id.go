package natsserver

import "crypto/rand"

// newServerID returns an ID shaped like nats-server's: "N" followed by
// 55 characters of the base32 alphabet.
func newServerID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [56]byte
	rand.Read(b[1:])
	b[0] = 'N'
	for i := 1; i < len(b); i++ {
		b[i] = alphabet[b[i]%32]
	}
	return string(b[:])
}
