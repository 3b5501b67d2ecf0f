package interactive

import (
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

// DecodeMember parses member data written by Encode.
func DecodeMember(b []byte) (Member, error) {
	var m Member
	if len(b) < len(memberDataPrefix) || string(b[:len(memberDataPrefix)]) != memberDataPrefix {
		return m, errors.New("interactive: member data is not eventfold's")
	}
	if err := json.Unmarshal(b[len(memberDataPrefix):], &m); err != nil {
		return m, err
	}
	if m.ID == "" || m.URL == "" {
		return m, errors.New("interactive: member data without id or url")
	}
	return m, nil
}
