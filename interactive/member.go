package interactive

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
)

// Role says what a node does for the ownership map.
type Role string

const (
	// RoleProcessor owns partitions and answers reads and writes for them.
	RoleProcessor Role = "processor"
	// RoleReplica keeps read-only copies and never owns partitions.
	RoleReplica Role = "replica"
)

// Member is what a node publishes about itself in the group membership.
type Member struct {
	ID   string `json:"id"`
	URL  string `json:"url"` // base URL other nodes forward to, e.g. http://10.0.0.7:8080
	Role Role   `json:"role,omitempty"`
}

// memberDataPrefix marks eventfold member data, so metadata written by
// other software in the same group is ignored rather than misread.
const memberDataPrefix = "eventfold/1:"

// Encode returns the member data for processor.WithMemberData.
func (m Member) Encode() []byte {
	b, _ := json.Marshal(m)
	return append([]byte(memberDataPrefix), b...)
}

// signedPrefix marks member data signed with the cluster secret:
// "eventfold/2:<hex HMAC-SHA256 of the JSON>:<JSON>".
const signedPrefix = "eventfold/2:"

// Sign returns the member data signed with the cluster secret: only a
// node that knows the secret can publish an address other nodes forward to.
func (m Member) Sign(secret []byte) []byte {
	b, _ := json.Marshal(m)
	return append([]byte(signedPrefix+hex.EncodeToString(memberMAC(secret, b))+":"), b...)
}

func memberMAC(secret, data []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("eventfold-member\x00"))
	h.Write(data)
	return h.Sum(nil)
}

// VerifyMember parses member data and, with a secret, accepts it only if
// Sign made it with that secret. Without a secret it is DecodeMember.
func VerifyMember(b, secret []byte) (Member, error) {
	if secret == nil {
		return DecodeMember(b)
	}
	rest, ok := bytes.CutPrefix(b, []byte(signedPrefix))
	if !ok {
		return Member{}, errors.New("interactive: member data is not signed")
	}
	mac, data, ok := bytes.Cut(rest, []byte(":"))
	got, err := hex.DecodeString(string(mac))
	if !ok || err != nil || !hmac.Equal(got, memberMAC(secret, data)) {
		return Member{}, errors.New("interactive: member data signature does not verify")
	}
	return decodeJSON(data)
}

// DecodeMember parses member data written by Encode or Sign, without
// checking a signature.
func DecodeMember(b []byte) (Member, error) {
	if rest, ok := bytes.CutPrefix(b, []byte(signedPrefix)); ok {
		if _, data, ok := bytes.Cut(rest, []byte(":")); ok {
			return decodeJSON(data)
		}
	}
	if len(b) < len(memberDataPrefix) || string(b[:len(memberDataPrefix)]) != memberDataPrefix {
		return Member{}, errors.New("interactive: member data is not eventfold's")
	}
	return decodeJSON(b[len(memberDataPrefix):])
}

func decodeJSON(data []byte) (Member, error) {
	var m Member
	if err := json.Unmarshal(data, &m); err != nil {
		return m, err
	}
	if m.ID == "" || m.URL == "" {
		return m, errors.New("interactive: member data without id or url")
	}
	return m, nil
}
