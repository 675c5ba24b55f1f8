package cluster

import (
	"cmp"
	"encoding/json"
	"slices"
	"sync"

	kafkago "github.com/segmentio/kafka-go"
)

// balancerProtocol is the group protocol name: every node must run the same balancer.
const balancerProtocol = "actionstream-sticky-capacity-v1"

// memberInfo is what a node tells the group leader in its JoinGroup user data.
type memberInfo struct {
	Node      string `json:"node"`
	Capacity  int    `json:"capacity"`
	Advertise string `json:"advertise,omitempty"`
	// Owned are the partitions the node runs now, from the generation Generation: the leader
	// keeps them where they are (sticky) as far as the capacity shares allow.
	Owned      []int `json:"owned,omitempty"`
	Generation int32 `json:"generation,omitempty"`
}

// balancer is a kafka-go GroupBalancer: sticky (a partition stays with the node that owns
// it unless that node is over its share) and weighted by declared capacity. Kafka's group
// protocol hands the leader every member's user data but not the current assignment, so
// each node reports what it owns (as Kafka's own sticky assignor does).
type balancer struct {
	mu   sync.Mutex
	self memberInfo
}

func (b *balancer) ProtocolName() string { return balancerProtocol }

func (b *balancer) UserData() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return json.Marshal(b.self)
}

// owned records the assignment this node runs, for its next JoinGroup.
func (b *balancer) owned(gen int32, partitions []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.self.Owned, b.self.Generation = slices.Clone(partitions), gen
}

func (b *balancer) AssignGroups(members []kafkago.GroupMember, partitions []kafkago.Partition) kafkago.GroupMemberAssignments {
	out := kafkago.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	byTopic := map[string][]int{}
	for _, p := range partitions {
		byTopic[p.Topic] = append(byTopic[p.Topic], p.ID)
	}
	infos := make([]memberInfo, len(members))
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
		if json.Unmarshal(m.UserData, &infos[i]) != nil || infos[i].Capacity < 1 {
			infos[i].Capacity = 1 // an unreadable member still gets a share
		}
		out[m.ID] = map[string][]int{}
	}
	for topic, ps := range byTopic {
		for i, got := range assignSticky(infos, ps) {
			out[ids[i]][topic] = got
		}
	}
	return out
}

// assignSticky splits partitions among members in proportion to their capacity: quotas are
// the floors of the exact shares, the remainder going to the largest fractions (ties: the
// lower index). Each partition stays with its current owner (the claim of the newest
// generation wins when two members claim it) while the owner is under its quota; the rest go
// to the member furthest under its quota. So a node joining takes only its share, all from
// nodes over theirs, and a node leaving spreads only its own partitions.
func assignSticky(members []memberInfo, partitions []int) [][]int {
	partitions = slices.Sorted(slices.Values(partitions))
	n := len(partitions)
	total := 0
	for _, m := range members {
		total += m.Capacity
	}
	quota := make([]int, len(members))
	type frac struct{ i, rem int }
	var fracs []frac
	given := 0
	for i, m := range members {
		quota[i] = n * m.Capacity / total
		given += quota[i]
		fracs = append(fracs, frac{i, n * m.Capacity % total})
	}
	slices.SortStableFunc(fracs, func(a, b frac) int { return cmp.Compare(b.rem, a.rem) })
	for k := 0; given < n; k++ {
		quota[fracs[k%len(fracs)].i]++
		given++
	}

	claim := map[int]int{} // partition -> member index
	for i, m := range members {
		for _, p := range m.Owned {
			if j, ok := claim[p]; !ok || m.Generation > members[j].Generation {
				claim[p] = i
			}
		}
	}
	out := make([][]int, len(members))
	var free []int
	for _, p := range partitions {
		if i, ok := claim[p]; ok && len(out[i]) < quota[i] {
			out[i] = append(out[i], p)
			continue
		}
		free = append(free, p)
	}
	for _, p := range free {
		best := -1
		for i := range members {
			if len(out[i]) >= quota[i] {
				continue
			}
			if best < 0 || quota[i]-len(out[i]) > quota[best]-len(out[best]) {
				best = i
			}
		}
		out[best] = append(out[best], p)
	}
	return out
}
