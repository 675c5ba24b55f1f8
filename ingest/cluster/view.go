package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

func floatBits(f float64) uint64 { return math.Float64bits(f) }
func floatFrom(b uint64) float64 { return math.Float64frombits(b) }

// View is the cluster as /api/cluster shows it: the group's members (from the coordinator),
// the cameras of each (from the topic), and this node's own membership.
type View struct {
	Group string `json:"group"`
	Topic string `json:"topic"`
	Self  Self   `json:"self"`
	// GroupState is the coordinator's ("Stable", "PreparingRebalance", …).
	GroupState string     `json:"group_state"`
	Nodes      []NodeView `json:"nodes"`
	// Unowned are cameras whose partition no member holds (during a rebalance, or no node).
	Unowned []string `json:"unowned"`
	Cameras int      `json:"cameras"`
}

// Self is this node's membership.
type Self struct {
	Node       string            `json:"node"`
	MemberID   string            `json:"member_id"`
	State      string            `json:"state"`
	Generation int32             `json:"generation"`
	Epoch      int64             `json:"epoch"`
	Token      uint64            `json:"token"` // stamped on events as "generation"
	Partitions []int             `json:"partitions"`
	Cameras    []string          `json:"cameras"` // running here
	Failed     map[string]string `json:"failed,omitempty"`
	LastError  string            `json:"last_error,omitempty"`
	Rebalances uint64            `json:"rebalances"`
	RebalanceS float64           `json:"last_rebalance_s"`
	FailoverS  float64           `json:"last_failover_s"`
}

// NodeView is one member of the group.
type NodeView struct {
	Node       string   `json:"node"`
	MemberID   string   `json:"member_id"`
	Capacity   int      `json:"capacity"`
	Advertise  string   `json:"advertise,omitempty"`
	Generation int32    `json:"generation"` // the generation its ownership claim is from
	Partitions []int    `json:"partitions"`
	Cameras    []string `json:"cameras"` // of its partitions, from the topic
	Self       bool     `json:"self"`
}

// SelfView is this node's membership alone (no broker round trip).
func (m *Member) SelfView() Self {
	m.smu.Lock()
	defer m.smu.Unlock()
	s := Self{Node: m.node, MemberID: m.memberID, State: m.state, Generation: m.generation, Epoch: m.epoch, Token: m.token,
		Partitions: slices.Clone(m.partitions), Cameras: slices.Clone(m.cameras), LastError: m.lastErr,
		Rebalances: m.rebalances.Load(), RebalanceS: floatFrom(m.lastRebalanceS.Load()), FailoverS: floatFrom(m.lastFailoverS.Load())}
	if len(m.failed) > 0 {
		s.Failed = map[string]string{}
		for k, v := range m.failed {
			s.Failed[k] = v
		}
	}
	if s.Partitions == nil {
		s.Partitions = []int{}
	}
	if s.Cameras == nil {
		s.Cameras = []string{}
	}
	return s
}

// View asks the coordinator for the members and reads the topic for the cameras.
func (m *Member) View(ctx context.Context) (View, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v := View{Group: m.cfg.Group, Topic: m.cfg.Topic, Self: m.SelfView(), Nodes: []NodeView{}, Unowned: []string{}}
	entries, err := m.cat.List(ctx)
	if err != nil {
		return v, err
	}
	v.Cameras = len(entries)
	res, err := m.cat.client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{m.cfg.Group}})
	if err != nil {
		return v, fmt.Errorf("cluster: describe group %q: %w", m.cfg.Group, err)
	}
	owner := map[int]int{} // partition -> index in v.Nodes
	for _, g := range res.Groups {
		if g.Error != nil {
			return v, fmt.Errorf("cluster: describe group %q: %w", m.cfg.Group, g.Error)
		}
		v.GroupState = g.GroupState
		for _, mem := range g.Members {
			var info memberInfo
			_ = json.Unmarshal(mem.MemberMetadata.UserData, &info) // another protocol's member shows without a name
			n := NodeView{Node: info.Node, MemberID: mem.MemberID, Capacity: info.Capacity, Advertise: info.Advertise,
				Generation: info.Generation, Partitions: []int{}, Cameras: []string{}, Self: mem.MemberID == v.Self.MemberID}
			for _, t := range mem.MemberAssignments.Topics {
				if t.Topic == m.cfg.Topic {
					n.Partitions = append(n.Partitions, t.Partitions...)
				}
			}
			slices.Sort(n.Partitions)
			for _, p := range n.Partitions {
				owner[p] = len(v.Nodes)
			}
			v.Nodes = append(v.Nodes, n)
		}
	}
	for _, e := range entries {
		if i, ok := owner[e.Partition]; ok {
			v.Nodes[i].Cameras = append(v.Nodes[i].Cameras, e.ID)
		} else {
			v.Unowned = append(v.Unowned, e.ID)
		}
	}
	slices.SortFunc(v.Nodes, func(a, b NodeView) int {
		if a.Node != b.Node {
			if a.Node < b.Node {
				return -1
			}
			return 1
		}
		if a.MemberID < b.MemberID {
			return -1
		}
		return 1
	})
	return v, nil
}
