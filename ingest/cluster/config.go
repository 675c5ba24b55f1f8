// Package cluster shares cameras across serve nodes with Kafka's consumer-group protocol.
//
// Cameras are records of a compacted topic (key = camera id, value = the camera's stream config
// as JSON, a tombstone removes it). Every node joins one consumer group on that topic; a
// partition is the unit of ownership, assigned by a sticky, capacity-weighted balancer
// (balancer.go). Each generation a node replays its partitions from the start, starts the
// cameras it now owns, stops those it lost, keeps those it kept (not torn down) and tails
// for changes. The generation, made monotonic across restarts of the group's sequence
// (fence.go), is the fencing token stamped on events and checked by Redis state writes.
// docs/SCALING.md gives the semantics.
package cluster

import (
	"fmt"
	"strings"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

// Config is the `cluster` section.
type Config struct {
	// Enabled takes the cameras from the topic instead of `streams` (serve --cluster).
	Enabled bool `yaml:"enabled"`
	// Brokers of the cameras topic; empty = sinks.kafka.brokers.
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
	// Partitions of the topic when a node or `cameras add` creates it: the most nodes that
	// can share the cameras (never change it later: cameras would move between partitions).
	Partitions int    `yaml:"partitions"`
	Group      string `yaml:"group"`
	// Node names this node in /api/cluster; "" = the host name.
	Node string `yaml:"node"`
	// Capacity weighs this node against the others: it gets partitions in proportion.
	Capacity int `yaml:"capacity"`
	// Advertise is the URL others show for this node's dashboard ("" = none).
	Advertise string `yaml:"advertise"`
	// SessionTimeout is how long the group waits for a silent node before moving its cameras:
	// the crash failover time.
	SessionTimeout    confkit.Duration `yaml:"session_timeout"`
	HeartbeatInterval confkit.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout bounds how long a rebalance waits for every member to rejoin.
	RebalanceTimeout confkit.Duration `yaml:"rebalance_timeout"`
	// JoinBackoff is the pause before rejoining after a failed join.
	JoinBackoff confkit.Duration `yaml:"join_backoff"`
}

// DefaultConfig is the one definition of the cluster section's defaults.
func DefaultConfig() Config {
	return Config{
		Topic: "actionstream.cameras", Partitions: 64, Group: "actionstream", Capacity: 1,
		SessionTimeout: confkit.Duration(10 * time.Second), HeartbeatInterval: confkit.Duration(time.Second),
		RebalanceTimeout: confkit.Duration(10 * time.Second), JoinBackoff: confkit.Duration(time.Second),
	}
}

// Validate checks the section; errors name the field by its YAML key.
func (c Config) Validate() error {
	p := confkit.Problems{Sentinel: ErrConfig}
	if c.Topic == "" {
		p.Add("topic", "is required")
	}
	if c.Group == "" {
		p.Add("group", "is required")
	}
	if c.Partitions < 1 {
		p.Add("partitions", "must be >= 1")
	}
	if c.Capacity < 1 {
		p.Add("capacity", "must be >= 1")
	}
	for i, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			p.Add(fmt.Sprintf("brokers[%d]", i), "is empty")
		}
	}
	if c.HeartbeatInterval <= 0 {
		p.Add("heartbeat_interval", "must be > 0")
	}
	if c.SessionTimeout < 3*c.HeartbeatInterval {
		p.Add("session_timeout", "must be at least 3 heartbeat intervals (%v)", 3*c.HeartbeatInterval.D())
	}
	if c.RebalanceTimeout <= 0 {
		p.Add("rebalance_timeout", "must be > 0")
	}
	if c.JoinBackoff <= 0 {
		p.Add("join_backoff", "must be > 0")
	}
	return p.Err()
}
