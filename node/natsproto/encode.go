package natsproto

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Fixed server→client control lines.
const (
	PingLine = "PING\r\n"
	PongLine = "PONG\r\n"
	OKLine   = "+OK\r\n"
)

// Info is the JSON body of the INFO a server sends on accept.
type Info struct {
	ServerID     string   `json:"server_id"`
	ServerName   string   `json:"server_name"`
	Version      string   `json:"version"`
	Proto        int      `json:"proto"`
	GoVersion    string   `json:"go"`
	Host         string   `json:"host"`
	Port         int      `json:"port"`
	Headers      bool     `json:"headers"`
	MaxPayload   int      `json:"max_payload"`
	JetStream    bool     `json:"jetstream,omitempty"`
	ClientID     uint64   `json:"client_id,omitempty"`
	ClientIP     string   `json:"client_ip,omitempty"`
	APILevel     int      `json:"api_lvl,omitempty"`
	AuthRequired bool     `json:"auth_required,omitempty"`
	Nonce        string   `json:"nonce,omitempty"`
	TLSRequired  bool     `json:"tls_required,omitempty"`
	TLSVerify    bool     `json:"tls_verify,omitempty"`
	ConnectURLs  []string `json:"connect_urls,omitempty"`
	LameDuck     bool     `json:"ldm,omitempty"`
}

// AppendInfo appends `INFO <json>\r\n`.
func AppendInfo(dst []byte, info *Info) ([]byte, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return dst, fmt.Errorf("natsproto: encode INFO: %w", err)
	}
	dst = append(dst, "INFO "...)
	dst = append(dst, b...)
	return append(dst, "\r\n"...), nil
}

// AppendErr appends `-ERR '<text>'\r\n`.
func AppendErr(dst []byte, text string) []byte {
	dst = append(dst, "-ERR '"...)
	dst = append(dst, text...)
	return append(dst, "'\r\n"...)
}

// AppendMsg appends `MSG <subject> <sid> [reply] <n>\r\n<payload>\r\n`.
func AppendMsg[T Text](dst []byte, subject T, sid string, reply T, payload []byte) []byte {
	dst = append(dst, "MSG "...)
	dst = appendRouting(dst, subject, sid, reply)
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, payload...)
	return append(dst, "\r\n"...)
}

// AppendHMsg appends
// `HMSG <subject> <sid> [reply] <#hdr> <#total>\r\n<header><payload>\r\n`.
func AppendHMsg[T Text](dst []byte, subject T, sid string, reply T, header, payload []byte) []byte {
	dst = append(dst, "HMSG "...)
	dst = appendRouting(dst, subject, sid, reply)
	dst = strconv.AppendInt(dst, int64(len(header)), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(header)+len(payload)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, header...)
	dst = append(dst, payload...)
	return append(dst, "\r\n"...)
}

// MsgSize is the exact number of bytes AppendMsg adds for a subject,
// sid, reply and payload of these lengths.
func MsgSize(subject, sid, reply, payload int) int {
	return len("MSG ") + routingSize(subject, sid, reply) + digits(payload) + 2 + payload + 2
}

// HMsgSize is the exact number of bytes AppendHMsg adds.
func HMsgSize(subject, sid, reply, header, payload int) int {
	return len("HMSG ") + routingSize(subject, sid, reply) + digits(header) + 1 +
		digits(header+payload) + 2 + header + payload + 2
}

func routingSize(subject, sid, reply int) int {
	n := subject + 1 + sid + 1
	if reply > 0 {
		n += reply + 1
	}
	return n
}

func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

func appendRouting[T Text](dst []byte, subject T, sid string, reply T) []byte {
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = append(dst, sid...)
	dst = append(dst, ' ')
	if len(reply) > 0 {
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	return dst
}

// AppendPub appends a client `PUB` (used by tests and tools).
func AppendPub[T Text](dst []byte, subject, reply T, payload []byte) []byte {
	dst = append(dst, "PUB "...)
	dst = appendSubjReply(dst, subject, reply)
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, payload...)
	return append(dst, "\r\n"...)
}

// AppendHPub appends a client `HPUB` (used by tests and tools).
func AppendHPub[T Text](dst []byte, subject, reply T, header, payload []byte) []byte {
	dst = append(dst, "HPUB "...)
	dst = appendSubjReply(dst, subject, reply)
	dst = strconv.AppendInt(dst, int64(len(header)), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(header)+len(payload)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, header...)
	dst = append(dst, payload...)
	return append(dst, "\r\n"...)
}

// AppendSub appends a client `SUB`; queue may be empty.
func AppendSub[T Text](dst []byte, subject, queue, sid T) []byte {
	dst = append(dst, "SUB "...)
	dst = appendSubjReply(dst, subject, queue)
	dst = append(dst, sid...)
	return append(dst, "\r\n"...)
}

// AppendUnsub appends a client `UNSUB`; max ≤ 0 omits the count.
func AppendUnsub[T Text](dst []byte, sid T, max int) []byte {
	dst = append(dst, "UNSUB "...)
	dst = append(dst, sid...)
	if max > 0 {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(max), 10)
	}
	return append(dst, "\r\n"...)
}

func appendSubjReply[T Text](dst []byte, subject, reply T) []byte {
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	if len(reply) > 0 {
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	return dst
}
