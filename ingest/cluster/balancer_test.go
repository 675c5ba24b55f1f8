package cluster

import (
	"encoding/json"
	"slices"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

func partitionsOf(topic string, n int) []kafkago.Partition {
	out := make([]kafkago.Partition, n)
	for i := range out {
		out[i] = kafkago.Partition{Topic: topic, ID: i}
	}
	return out
}

func member(t *testing.T, id string, info memberInfo) kafkago.GroupMember {
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return kafkago.GroupMember{ID: id, Topics: []string{"cams"}, UserData: b}
}

// every partition exactly once
func checkCover(t *testing.T, got kafkago.GroupMemberAssignments, n int) map[int]string {
	t.Helper()
	owner := map[int]string{}
	for m, topics := range got {
		for _, p := range topics["cams"] {
			if prev, dup := owner[p]; dup {
				t.Fatalf("partition %d given to %s and %s", p, prev, m)
			}
			owner[p] = m
		}
	}
	if len(owner) != n {
		t.Fatalf("%d of %d partitions assigned: %v", len(owner), n, got)
	}
	return owner
}

func TestBalancerWeighsCapacity(t *testing.T) {
	b := &balancer{}
	got := b.AssignGroups([]kafkago.GroupMember{
		member(t, "a", memberInfo{Node: "a", Capacity: 1}),
		member(t, "b", memberInfo{Node: "b", Capacity: 3}),
	}, partitionsOf("cams", 16))
	checkCover(t, got, 16)
	if len(got["a"]["cams"]) != 4 || len(got["b"]["cams"]) != 12 {
		t.Errorf("capacity 1:3 of 16 partitions gave %d:%d", len(got["a"]["cams"]), len(got["b"]["cams"]))
	}
}

// A node joining takes its fair share, all from the others; nothing else moves. A node
// leaving hands over only its own partitions.
func TestBalancerIsSticky(t *testing.T) {
	b := &balancer{}
	const n = 12
	first := b.AssignGroups([]kafkago.GroupMember{
		member(t, "a", memberInfo{Capacity: 1}), member(t, "b", memberInfo{Capacity: 1}),
	}, partitionsOf("cams", n))
	before := checkCover(t, first, n)
	second := b.AssignGroups([]kafkago.GroupMember{
		member(t, "a", memberInfo{Capacity: 1, Owned: first["a"]["cams"], Generation: 1}),
		member(t, "b", memberInfo{Capacity: 1, Owned: first["b"]["cams"], Generation: 1}),
		member(t, "c", memberInfo{Capacity: 1}),
	}, partitionsOf("cams", n))
	after := checkCover(t, second, n)
	moved := 0
	for p, o := range after {
		if before[p] != o {
			moved++
			if o != "c" {
				t.Errorf("partition %d moved %s -> %s, not to the new node", p, before[p], o)
			}
		}
	}
	if moved != n/3 {
		t.Errorf("%d partitions moved when a third node joined, want its fair share %d", moved, n/3)
	}
	third := b.AssignGroups([]kafkago.GroupMember{
		member(t, "a", memberInfo{Capacity: 1, Owned: second["a"]["cams"], Generation: 2}),
		member(t, "c", memberInfo{Capacity: 1, Owned: second["c"]["cams"], Generation: 2}),
	}, partitionsOf("cams", n))
	final := checkCover(t, third, n)
	for p, o := range final {
		if after[p] != "b" && after[p] != o {
			t.Errorf("partition %d of the surviving %s moved to %s when b left", p, after[p], o)
		}
	}
}

// Two members claiming a partition (a zombie that came back): the newer generation's claim
// keeps it.
func TestBalancerPrefersNewestClaim(t *testing.T) {
	b := &balancer{}
	got := b.AssignGroups([]kafkago.GroupMember{
		member(t, "zombie", memberInfo{Capacity: 1, Owned: []int{0, 1, 2, 3}, Generation: 3}),
		member(t, "new", memberInfo{Capacity: 1, Owned: []int{0, 1}, Generation: 5}),
	}, partitionsOf("cams", 4))
	checkCover(t, got, 4)
	if p := got["new"]["cams"]; !slices.Equal(p, []int{0, 1}) {
		t.Errorf("the newest owner got %v, want [0 1]", p)
	}
}

func TestBalancerUserDataCarriesOwned(t *testing.T) {
	b := &balancer{self: memberInfo{Node: "n1", Capacity: 2}}
	b.owned(7, []int{3, 4})
	raw, err := b.UserData()
	if err != nil {
		t.Fatal(err)
	}
	var got memberInfo
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Node != "n1" || got.Capacity != 2 || got.Generation != 7 || !slices.Equal(got.Owned, []int{3, 4}) {
		t.Errorf("user data %+v", got)
	}
}
