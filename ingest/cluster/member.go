package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/actionstream/actionstream/ingest"
)

// Runner is what a member drives: the pipeline's streams and the token stamped on its output.
type Runner interface {
	// AddStream starts a stream while the runner runs.
	AddStream(sc ingest.StreamConfig) error
	// RemoveStream stops a stream and waits until it is gone (its actions ended).
	RemoveStream(ctx context.Context, id string) error
	// SetGeneration sets the fencing token of everything emitted from now on.
	SetGeneration(token uint64)
}

// Options configure a Member.
type Options struct {
	Config Config
	// Brokers are used when Config.Brokers is empty (sinks.kafka.brokers).
	Brokers []string
	// Redis, when set, registers generations (restart detection, fence.go) and reads the
	// previous owner's last state write to measure failover; RedisPrefix is
	// sinks.redis.key_prefix.
	Redis       *goredis.Client
	RedisPrefix string
	Runner      Runner
	Logger      *slog.Logger
	// LookupEnv resolves env: secrets; nil = os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Member is one node's membership in the cameras group.
type Member struct {
	cfg     Config
	brokers []string
	node    string
	run     Runner
	log     *slog.Logger
	lookup  func(string) (string, bool)
	cat     *Catalog
	bal     *balancer
	epochs  *epochs
	redis   *goredis.Client
	rprefix string

	// mu serialises changes to the running set (reconcile and the tailers).
	mu      sync.Mutex
	running map[string]Camera // what the runner runs, by id
	known   map[string]entry  // the records of the owned partitions, by id
	owned   []int

	smu        sync.Mutex // the status fields
	state      string
	lastErr    string
	generation int32
	token      uint64
	epoch      int64
	failed     map[string]string // camera id -> why it is not running
	cameras    []string          // the running ids, sorted (a copy of running's keys)
	partitions []int             // the owned partitions
	endedAt    time.Time         // when the last generation ended (zero: none yet)
	memberID   string

	rebalances     atomic.Uint64
	acquired       atomic.Uint64
	lastRebalanceS atomic.Uint64 // float64 bits
	lastFailoverS  atomic.Uint64 // float64 bits
}

type entry struct {
	cam       Camera
	partition int
}

// Membership states (/api/cluster).
const (
	StateJoining = "joining" // no generation yet, or rejoining after an error
	StateMember  = "member"  // in the current generation
	// StateRebalancing: the generation ended (rebalance, or cut off); the cameras keep running
	// under the last token until the next assignment.
	StateRebalancing = "rebalancing"
)

// New checks the configuration; Run joins.
func New(opts Options) (*Member, error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if opts.Runner == nil {
		return nil, fmt.Errorf("cluster: %w: no runner", ErrConfig)
	}
	cat, err := NewCatalog(cfg, opts.Brokers)
	if err != nil {
		return nil, err
	}
	node := cfg.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	brokers := opts.Brokers
	if len(cfg.Brokers) > 0 {
		brokers = cfg.Brokers
	}
	m := &Member{
		cfg: cfg, brokers: brokers, node: node, run: opts.Runner, log: log.With("component", "cluster"),
		lookup: opts.LookupEnv, cat: cat, redis: opts.Redis, rprefix: opts.RedisPrefix,
		bal:     &balancer{self: memberInfo{Node: node, Capacity: cfg.Capacity, Advertise: cfg.Advertise}},
		running: map[string]Camera{}, known: map[string]entry{}, failed: map[string]string{}, state: StateJoining,
	}
	if m.lookup == nil {
		m.lookup = os.LookupEnv
	}
	if opts.Redis != nil {
		m.epochs = newEpochs(opts.Redis, opts.RedisPrefix, cfg.Group, cfg.SessionTimeout.D().Milliseconds())
	}
	return m, nil
}

// Node is this node's name.
func (m *Member) Node() string { return m.node }

// Catalog is the member's view of the cameras topic (for the API).
func (m *Member) Catalog() *Catalog { return m.cat }

// Run joins the group and follows its generations until ctx ends, then leaves the group (the
// others take the cameras over at once) and returns. The cameras it runs are left to the
// runner's own shutdown.
func (m *Member) Run(ctx context.Context) error {
	defer m.cat.Close()
	for {
		err := m.cat.EnsureTopic(ctx)
		if err == nil {
			break
		}
		m.setErr(err)
		m.log.Warn("cameras topic not reachable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(m.cfg.JoinBackoff.D()):
		}
	}
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID: m.cfg.Group, Brokers: m.brokers, Topics: []string{m.cfg.Topic},
		GroupBalancers:    []kafkago.GroupBalancer{m.bal},
		HeartbeatInterval: m.cfg.HeartbeatInterval.D(), SessionTimeout: m.cfg.SessionTimeout.D(),
		RebalanceTimeout: m.cfg.RebalanceTimeout.D(), JoinGroupBackoff: m.cfg.JoinBackoff.D(),
		StartOffset: kafkago.FirstOffset, Timeout: 5 * time.Second,
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			m.log.Debug("kafka group", "msg", fmt.Sprintf(format, args...))
		}),
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer cg.Close() // leaves the group
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// Said once per outage (the group retries every join_backoff), then at debug level.
			if m.SelfView().LastError != err.Error() {
				m.log.Info("group join failed; rejoining", "err", err)
			} else {
				m.log.Debug("group join failed; rejoining", "err", err)
			}
			m.setErr(err)
			m.setState(StateJoining)
			continue
		}
		m.generationRun(ctx, gen)
	}
}

// generationRun applies gen's assignment and tails its partitions until the generation ends.
func (m *Member) generationRun(ctx context.Context, gen *kafkago.Generation) {
	start := time.Now()
	var partitions []int
	for _, a := range gen.Assignments[m.cfg.Topic] {
		partitions = append(partitions, a.ID)
	}
	slices.Sort(partitions)
	m.applyToken(ctx, gen.ID)
	m.bal.owned(gen.ID, partitions)
	m.smu.Lock()
	m.generation, m.memberID, m.lastErr = gen.ID, gen.MemberID, ""
	endedAt := m.endedAt
	m.smu.Unlock()

	// Replay every owned partition from the start, then apply the assignment at once.
	offsets := map[int]int64{}
	known := map[string]entry{}
	ends, err := m.cat.ends(ctx, partitions)
	if err != nil {
		m.setErr(err)
		m.log.Warn("offsets of the owned partitions unknown; the generation is left", "err", err)
		gen.Start(func(context.Context) {})
		return
	}
	for _, p := range partitions {
		next, err := m.cat.replay(ctx, p, 0, ends[p], func(r record) { foldRecord(known, r, p, m.log) })
		if err != nil {
			m.setErr(err)
			m.log.Warn("replay of an owned partition failed; the generation is left", "partition", p, "err", err)
			gen.Start(func(context.Context) {}) // ends the generation: rejoin and try again
			return
		}
		offsets[p] = next
	}
	m.mu.Lock()
	m.owned, m.known = partitions, known
	m.reconcileLocked(ctx)
	n := len(m.running)
	m.mu.Unlock()
	m.rebalances.Add(1)
	since := start
	if !endedAt.IsZero() {
		since = endedAt
	}
	m.lastRebalanceS.Store(floatBits(time.Since(since).Seconds()))
	m.setState(StateMember)
	m.log.Info("generation joined", "generation", gen.ID, "token", m.Token(), "partitions", len(partitions), "cameras", n,
		"took", time.Since(since).Round(time.Millisecond))

	ended := make(chan struct{})
	gen.Start(func(gctx context.Context) {
		<-gctx.Done()
		close(ended)
	})
	gen.Start(func(gctx context.Context) { m.refreshToken(gctx, gen.ID) })
	for _, p := range partitions {
		gen.Start(func(gctx context.Context) { m.tail(gctx, p, offsets[p]) })
	}
	select {
	case <-ended:
		m.smu.Lock()
		m.endedAt = time.Now()
		m.smu.Unlock()
		m.setState(StateRebalancing)
		m.log.Info("generation ended; cameras keep running until the next assignment", "generation", gen.ID)
	case <-ctx.Done():
	}
}

// foldRecord applies one record of partition p to known.
func foldRecord(known map[string]entry, r record, p int, log *slog.Logger) {
	if r.value == nil {
		delete(known, r.key)
		return
	}
	cam, err := ParseCamera(r.value)
	if err == nil && cam.ID != r.key {
		err = fmt.Errorf("%w: key %q holds camera %q", ErrBadCamera, r.key, cam.ID)
	}
	if err != nil {
		log.Warn("camera record skipped", "partition", p, "offset", r.offset, "err", err)
		return
	}
	known[r.key] = entry{cam: cam, partition: p}
}

// tail follows partition p from offset and applies each change at once.
func (m *Member) tail(ctx context.Context, p int, offset int64) {
	for ctx.Err() == nil {
		var changed []record
		next, _, err := m.cat.fetch(ctx, p, offset, 500*time.Millisecond, func(r record) { changed = append(changed, r) })
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.log.Warn("tailing the cameras topic", "partition", p, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(m.cfg.JoinBackoff.D()):
			}
			continue
		}
		offset = next
		if len(changed) == 0 {
			continue
		}
		m.mu.Lock()
		for _, r := range changed {
			foldRecord(m.known, r, p, m.log)
		}
		m.reconcileLocked(ctx)
		m.mu.Unlock()
	}
}

// reconcileLocked makes the running set equal to the known records: stops what is gone or
// changed, starts what is new or changed, leaves the rest alone. m.mu is held.
func (m *Member) reconcileLocked(ctx context.Context) {
	for id, cam := range m.running {
		if e, ok := m.known[id]; ok && e.cam == cam {
			continue
		}
		if err := m.run.RemoveStream(ctx, id); err != nil {
			m.log.Warn("stream not removed", "stream", id, "err", err)
		}
		delete(m.running, id)
		m.log.Info("camera stopped", "stream", id)
	}
	failed := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(m.known)) {
		if _, ok := m.running[id]; ok {
			continue
		}
		cam := m.known[id].cam
		sc, err := cam.Resolve(m.lookup)
		if err == nil {
			err = m.run.AddStream(sc)
		}
		if err != nil {
			failed[id] = err.Error()
			m.log.Error("camera not started", "stream", id, "err", err)
			continue
		}
		m.running[id] = cam
		m.acquired.Add(1)
		m.measureFailover(ctx, id)
		m.log.Info("camera started", "stream", id, "url", ingest.Redact(sc.URL))
	}
	m.smu.Lock()
	m.failed = failed
	m.cameras = slices.Sorted(maps.Keys(m.running))
	m.partitions = slices.Clone(m.owned)
	m.smu.Unlock()
}

// measureFailover records how long a camera taken over went without an owner: the time since
// its previous owner's last state write (every second while it ran).
func (m *Member) measureFailover(ctx context.Context, id string) {
	if m.redis == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	v, err := m.redis.HGet(rctx, m.rprefix+"stream:"+id, "updated_at").Result()
	if err != nil {
		return
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		m.lastFailoverS.Store(floatBits(time.Since(t).Seconds()))
	}
}

// applyToken sets the runner's token for generation gen.
func (m *Member) applyToken(ctx context.Context, gen int32) {
	m.smu.Lock()
	epoch, last := m.epoch, m.generation
	m.smu.Unlock()
	ok := true
	if m.epochs != nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		e, registered, err := m.epochs.register(rctx, gen)
		cancel()
		switch {
		case err != nil:
			m.log.Warn("generation not registered; the token keeps the last epoch", "err", err)
		case registered:
			epoch = e
		default:
			ok = false
		}
	} else if gen < last {
		epoch++ // no registry: this node saw the sequence restart
	}
	if !ok {
		m.log.Warn("generation older than the group's live one; keeping the last token until it registers", "generation", gen)
		return
	}
	m.smu.Lock()
	m.epoch, m.token = epoch, Token(epoch, gen)
	tok := m.token
	m.smu.Unlock()
	m.run.SetGeneration(tok)
}

// refreshToken keeps the generation's registration fresh while it lasts (and retries one
// that was refused).
func (m *Member) refreshToken(ctx context.Context, gen int32) {
	if m.epochs == nil {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(m.cfg.HeartbeatInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m.Token() != Token(m.Epoch(), gen) {
			m.applyToken(ctx, gen)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, _, err := m.epochs.register(rctx, gen)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.log.Debug("generation refresh", "err", err)
		}
	}
}

func (m *Member) setState(s string) {
	m.smu.Lock()
	m.state = s
	m.smu.Unlock()
}

func (m *Member) setErr(err error) {
	m.smu.Lock()
	m.lastErr = err.Error()
	m.smu.Unlock()
}

// Token is the fencing token in force.
func (m *Member) Token() uint64 {
	m.smu.Lock()
	defer m.smu.Unlock()
	return m.token
}

// Epoch is the generation sequence's restart count in force.
func (m *Member) Epoch() int64 {
	m.smu.Lock()
	defer m.smu.Unlock()
	return m.epoch
}

// Stats are the member's counters for /metrics.
type Stats struct {
	Rebalances    uint64  // generations joined
	OwnedCameras  int     // cameras this node runs
	Acquired      uint64  // cameras started here (each generation's new ones)
	RebalanceS    float64 // the last generation change: previous generation's end to the new assignment applied
	FailoverS     float64 // the last camera taken over: its previous owner's last state write to its start here
	Generation    int32
	Token         uint64
	InGeneration  bool
	FailedCameras int
}

// Stats reads the counters.
func (m *Member) Stats() Stats {
	m.smu.Lock()
	defer m.smu.Unlock()
	return Stats{
		Rebalances: m.rebalances.Load(), OwnedCameras: len(m.cameras), Acquired: m.acquired.Load(),
		RebalanceS: floatFrom(m.lastRebalanceS.Load()), FailoverS: floatFrom(m.lastFailoverS.Load()),
		Generation: m.generation, Token: m.token, InGeneration: m.state == StateMember, FailedCameras: len(m.failed),
	}
}
