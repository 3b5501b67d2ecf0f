package checker

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// Ack is one write a load generator was acknowledged: a record the broker
// said it stored at Topic/Partition/Offset, or a command a node said it
// carried out (CommandID set; Offset is its last event, Version the
// version the node answered).
type Ack struct {
	Topic     string `json:"topic"`
	Key       string `json:"key"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	SHA256    string `json:"sha256,omitempty"` // of the record value (plain writes)
	CommandID string `json:"command_id,omitempty"`
	Version   uint64 `json:"version,omitempty"`
}

func (a Ack) String() string {
	if a.CommandID != "" {
		return fmt.Sprintf("command %s on %s/%s at %d/%d (version %d)", a.CommandID, a.Topic, a.Key, a.Partition, a.Offset, a.Version)
	}
	return fmt.Sprintf("%s/%s at %d/%d", a.Topic, a.Key, a.Partition, a.Offset)
}

// Hash is the SHA256 an Ack carries for a record value.
func Hash(value []byte) string {
	s := sha256.Sum256(value)
	return hex.EncodeToString(s[:])
}

// AckLog appends acks to a file, one JSON object a line. It is safe for
// concurrent use.
type AckLog struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	n    int
	path string
}

// CreateAckLog creates (or truncates) the log at path.
func CreateAckLog(path string) (*AckLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &AckLog{f: f, w: bufio.NewWriter(f), path: path}, nil
}

// Path is where the log is written.
func (l *AckLog) Path() string { return l.path }

// Record appends acks.
func (l *AckLog) Record(acks ...Ack) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range acks {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		l.w.Write(b)
		if err := l.w.WriteByte('\n'); err != nil {
			return err
		}
		l.n++
	}
	return nil
}

// Len is the number of acks recorded.
func (l *AckLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Flush writes buffered acks to the file.
func (l *AckLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Close flushes and closes the file.
func (l *AckLog) Close() error {
	err := l.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadAcks reads an ack log.
func ReadAcks(path string) ([]Ack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Ack
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var a Ack
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return nil, fmt.Errorf("checker: %s line %d: %w", path, line, err)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}
