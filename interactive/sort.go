package interactive

import (
	"slices"
	"strings"
)

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
}

func sorted(ps []int32) []int32 {
	slices.Sort(ps)
	return ps
}
