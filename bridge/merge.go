package bridge

import (
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// view is what one gateway contributes to a cycle.
type view int

const (
	// viewFresh: it was scraped; its groups are what it holds now.
	viewFresh view = iota
	// viewHeld: it could not be scraped; its groups are those of its last
	// successful scrape, held for --pushgateway.outage-hold.
	viewHeld
	// viewGone: it could not be scraped for longer than the hold; its
	// groups count as gone.
	viewGone
	// viewUnknown: it could not be scraped and nothing is held: what it
	// holds is unknown, so the cycle is incomplete.
	viewUnknown
)

// merged is one group of the merged view and the gateway it comes from.
type merged struct {
	group   *pipeline.Group
	gateway int
}

// mergeGroups merges the groups of several gateways by grouping key. Where
// several gateways hold a group, the copy with the newest push time is
// taken, whole; a tie goes to the first gateway listed. The result is sorted
// by grouping key.
func mergeGroups(snaps []*pipeline.Snapshot) []merged {
	var (
		out    []merged
		byHash = map[uint64][]int{}
	)
	for gi, snap := range snaps {
		if snap == nil {
			continue
		}
		for i := range snap.Groups {
			g := &snap.Groups[i]
			h := g.Labels.Hash()
			idx := slices.IndexFunc(byHash[h], func(j int) bool { return labels.Equal(out[j].group.Labels, g.Labels) })
			if idx < 0 {
				byHash[h] = append(byHash[h], len(out))
				out = append(out, merged{group: g, gateway: gi})
				continue
			}
			if m := &out[byHash[h][idx]]; g.PushTime > m.group.PushTime {
				*m = merged{group: g, gateway: gi}
			}
		}
	}
	if len(snaps) > 1 {
		slices.SortFunc(out, func(a, b merged) int { return labels.Compare(a.group.Labels, b.group.Labels) })
	}
	return out
}
