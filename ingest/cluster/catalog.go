package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// Catalog reads and writes the cameras topic: `actionstream cameras …` and /api/cameras.
// Add and Update check the current records first, so the usual mistakes (adding an id twice,
// updating one that is not there) are refused; two writers racing on one id end with the
// later record (the topic is last-writer-wins per key).
type Catalog struct {
	cfg       Config
	client    *kafkago.Client
	writer    *kafkago.Writer
	transport *kafkago.Transport
}

// Entry is a camera record with where it lives.
type Entry struct {
	Camera
	Partition int   `json:"partition"`
	Offset    int64 `json:"offset"`
}

// NewCatalog opens the topic named by cfg on brokers (cfg.Brokers when set).
func NewCatalog(cfg Config, brokers []string) (*Catalog, error) {
	if len(cfg.Brokers) > 0 {
		brokers = cfg.Brokers
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%w: brokers: none (set cluster.brokers or sinks.kafka.brokers)", ErrConfig)
	}
	tr := &kafkago.Transport{DialTimeout: 5 * time.Second, ClientID: "actionstream-cameras", MetadataTTL: time.Second}
	addr := kafkago.TCP(brokers...)
	return &Catalog{
		cfg: cfg, transport: tr,
		client: &kafkago.Client{Addr: addr, Timeout: 10 * time.Second, Transport: tr},
		writer: &kafkago.Writer{Addr: addr, Topic: cfg.Topic, Balancer: &kafkago.Hash{}, RequiredAcks: kafkago.RequireAll,
			BatchTimeout: time.Millisecond, Transport: tr},
	}, nil
}

// Close releases the connections.
func (c *Catalog) Close() error {
	err := c.writer.Close()
	c.transport.CloseIdleConnections()
	return err
}

// EnsureTopic creates the compacted topic when it is missing.
func (c *Catalog) EnsureTopic(ctx context.Context) error {
	res, err := c.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: c.cfg.Topic, NumPartitions: c.cfg.Partitions, ReplicationFactor: -1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil {
		return fmt.Errorf("cluster: create topic %q: %w", c.cfg.Topic, err)
	}
	if err := res.Errors[c.cfg.Topic]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("cluster: create topic %q: %w", c.cfg.Topic, err)
	}
	return nil
}

// Add writes a new camera; it fails with ErrCameraExists when the id is taken.
func (c *Catalog) Add(ctx context.Context, cam Camera) error { return c.put(ctx, cam, false) }

// Update replaces a camera's record; it fails with ErrNoCamera when the id is unknown.
func (c *Catalog) Update(ctx context.Context, cam Camera) error { return c.put(ctx, cam, true) }

func (c *Catalog) put(ctx context.Context, cam Camera, update bool) error {
	if err := cam.Validate(); err != nil {
		return err
	}
	if err := c.EnsureTopic(ctx); err != nil {
		return err
	}
	cur, err := c.List(ctx)
	if err != nil {
		return err
	}
	exists := slices.ContainsFunc(cur, func(e Entry) bool { return e.ID == cam.ID })
	switch {
	case update && !exists:
		return fmt.Errorf("%w: %q (use add)", ErrNoCamera, cam.ID)
	case !update && exists:
		return fmt.Errorf("%w: %q (use update)", ErrCameraExists, cam.ID)
	}
	if err := c.writer.WriteMessages(ctx, kafkago.Message{Key: []byte(cam.ID), Value: cam.Encode()}); err != nil {
		return fmt.Errorf("cluster: write camera %q: %w", cam.ID, err)
	}
	return nil
}

// Remove writes the camera's tombstone; it fails with ErrNoCamera when the id is unknown.
func (c *Catalog) Remove(ctx context.Context, id string) error {
	cur, err := c.List(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(cur, func(e Entry) bool { return e.ID == id }) {
		return fmt.Errorf("%w: %q", ErrNoCamera, id)
	}
	if err := c.writer.WriteMessages(ctx, kafkago.Message{Key: []byte(id)}); err != nil {
		return fmt.Errorf("cluster: remove camera %q: %w", id, err)
	}
	return nil
}

// List is every camera in the topic (the latest record per id; tombstones remove), sorted by
// id. A record that does not parse is skipped: nodes skip it too (and log it).
func (c *Catalog) List(ctx context.Context) ([]Entry, error) {
	md, err := c.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{c.cfg.Topic}})
	if err != nil {
		return nil, fmt.Errorf("cluster: topic %q: %w", c.cfg.Topic, err)
	}
	if len(md.Topics) != 1 || errors.Is(md.Topics[0].Error, kafkago.UnknownTopicOrPartition) {
		return nil, nil // no topic yet: no cameras
	}
	if err := md.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("cluster: topic %q: %w", c.cfg.Topic, err)
	}
	var parts []int
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
	}
	ends, err := c.ends(ctx, parts)
	if err != nil {
		return nil, err
	}
	byID := map[string]Entry{}
	for _, p := range parts {
		_, err := c.replay(ctx, p, 0, ends[p], func(r record) {
			if r.value == nil {
				delete(byID, r.key)
				return
			}
			if cam, err := ParseCamera(r.value); err == nil && cam.ID == r.key {
				byID[r.key] = Entry{Camera: cam, Partition: p, Offset: r.offset}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]Entry, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

type record struct {
	key    string
	value  []byte // nil = tombstone
	offset int64
}

// ends are the partitions' high watermarks: where a replay from the start stops.
func (c *Catalog) ends(ctx context.Context, partitions []int) (map[int]int64, error) {
	if len(partitions) == 0 {
		return map[int]int64{}, nil
	}
	req := make([]kafkago.OffsetRequest, len(partitions))
	for i, p := range partitions {
		req[i] = kafkago.LastOffsetOf(p)
	}
	res, err := c.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{c.cfg.Topic: req}})
	if err != nil {
		return nil, fmt.Errorf("cluster: offsets of %q: %w", c.cfg.Topic, err)
	}
	out := map[int]int64{}
	for _, po := range res.Topics[c.cfg.Topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("cluster: offsets of %s[%d]: %w", c.cfg.Topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// replay hands fn every record of partition from offset up to end (a high watermark) and
// returns where it stopped.
func (c *Catalog) replay(ctx context.Context, partition int, offset, end int64, fn func(record)) (int64, error) {
	for offset < end {
		next, n, err := c.fetch(ctx, partition, offset, 100*time.Millisecond, fn)
		if err != nil {
			return offset, err
		}
		if n == 0 && next == offset {
			break // nothing readable below end (compacted away, or transaction markers)
		}
		offset = next
	}
	return offset, nil
}

// fetch is one fetch of partition from offset, waiting up to wait for a record; it hands fn
// each record and returns the next offset and the count.
func (c *Catalog) fetch(ctx context.Context, partition int, offset int64, wait time.Duration, fn func(record)) (int64, int, error) {
	res, err := c.client.Fetch(ctx, &kafkago.FetchRequest{Topic: c.cfg.Topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: wait})
	if err == nil {
		err = res.Error
	}
	if errors.Is(err, kafkago.OffsetOutOfRange) && res != nil && offset < res.LogStartOffset {
		return res.LogStartOffset, 0, nil // compaction or retention removed the start
	}
	if err != nil {
		return offset, 0, fmt.Errorf("cluster: read %s[%d]@%d: %w", c.cfg.Topic, partition, offset, err)
	}
	n := 0
	for {
		r, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return offset, n, fmt.Errorf("cluster: read %s[%d]@%d: %w", c.cfg.Topic, partition, offset, err)
		}
		key, _ := protocol.ReadAll(r.Key)
		value, _ := protocol.ReadAll(r.Value)
		if r.Offset >= offset { // a batch may start before the offset asked for
			fn(record{key: string(key), value: value, offset: r.Offset})
			offset = r.Offset + 1
			n++
		}
	}
	return offset, n, nil
}

// WriteList prints entries as the `cameras list` table: id, partition, url, secret, options.
func WriteList(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPARTITION\tURL\tPASSWORD_FROM\tOPTIONS")
	for _, e := range entries {
		var opts []string
		if e.Loop {
			opts = append(opts, "loop")
		}
		if e.Transport != "" {
			opts = append(opts, "transport="+e.Transport)
		}
		if e.StallTimeout != "" {
			opts = append(opts, "stall_timeout="+e.StallTimeout)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", e.ID, e.Partition, e.URL, cmp.Or(e.PasswordFrom, "-"), cmp.Or(strings.Join(opts, ","), "-"))
	}
	return tw.Flush()
}
