//go:build !linux

package broker

import (
	"net"

	"github.com/samsa-streaming/samsa/internal/storage"
)

// sendRegion copies the region through a buffer where sendfile is not used.
func sendRegion(nc net.Conn, p *fetchPayload, rg *storage.Region) (zeroCopy bool, err error) {
	return false, copyRegion(nc, rg)
}
