package transport

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
)

// stage holds an incoming snapshot until it is verified: in memory up to
// memMax, then in a temp file. The file is unlinked as soon as it is
// created, so a crash mid-transfer leaves nothing on disk to clean up.
type stage struct {
	memMax int64
	dir    string
	mem    []byte
	f      *os.File
	size   int64
}

func (s *stage) write(p []byte) error {
	if s.f == nil && s.size+int64(len(p)) <= s.memMax {
		if need := len(s.mem) + len(p); need > cap(s.mem) {
			// Grow by doubling but never past memMax, so staging costs
			// at most memMax of memory.
			newCap := min(max(2*cap(s.mem), need), int(s.memMax))
			s.mem = slices.Grow(s.mem, newCap-len(s.mem))
		}
		s.mem = append(s.mem, p...)
		s.size += int64(len(p))
		return nil
	}
	if s.f == nil {
		if err := s.spill(); err != nil {
			return err
		}
	}
	if _, err := s.f.Write(p); err != nil {
		return fmt.Errorf("staging snapshot: %w", err)
	}
	s.size += int64(len(p))
	return nil
}

func (s *stage) spill() error {
	f, err := os.CreateTemp(s.dir, "cairn-snapshot-*")
	if err != nil {
		return fmt.Errorf("staging snapshot: %w", err)
	}
	// On Unix the open file outlives its name; elsewhere close removes it.
	_ = os.Remove(f.Name())
	if _, err := f.Write(s.mem); err != nil {
		f.Close()
		return fmt.Errorf("staging snapshot: %w", err)
	}
	s.f, s.mem = f, nil
	return nil
}

// reader returns the staged bytes from the start.
func (s *stage) reader() io.Reader {
	if s.f == nil {
		return bytes.NewReader(s.mem)
	}
	return bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.size), 256<<10)
}

func (s *stage) close() {
	if s.f != nil {
		name := s.f.Name()
		s.f.Close()
		_ = os.Remove(name) // already gone on Unix
	}
	s.mem = nil
}
