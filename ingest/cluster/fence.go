package cluster

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Token is the fencing token of a generation: epoch<<32 | generation id. Kafka numbers a
// group's generations 1, 2, …; a group that was deleted or expired (or a broker that lost its
// state) starts again at 1, so the epoch counts those restarts and keeps tokens growing.
func Token(epoch int64, generation int32) uint64 {
	return uint64(epoch)<<32 | uint64(uint32(generation))
}

// registerScript records the generation a node just joined in one hash per group (KEYS[1]:
// epoch, gen, seen_ms; ARGV[1] the generation, ARGV[2] how long a record may go unrefreshed
// before a smaller generation is taken for a restart, in ms) and returns the epoch to use, or
// -1. A larger generation is the group moving on; the same one is a member refreshing it
// (every heartbeat, while its generation lasts). A smaller one comes either from a node that
// is late (the live group has moved on and keeps refreshing the record: refused) or from a
// restarted sequence (no live member refreshes the old record any more: a new epoch). The
// server's clock is the one clock, so nodes' clocks need not agree.
const registerScript = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
local seen = tonumber(redis.call('HGET', KEYS[1], 'seen_ms') or '0')
local mine = tonumber(ARGV[1])
if mine > gen then
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'gen', mine, 'seen_ms', now)
  return epoch
end
if mine == gen then
  redis.call('HSET', KEYS[1], 'seen_ms', now)
  return epoch
end
if now - seen > tonumber(ARGV[2]) then
  epoch = epoch + 1
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'gen', mine, 'seen_ms', now)
  return epoch
end
return -1`

// epochs registers generations in Redis (the same server the state hashes live in).
type epochs struct {
	client *goredis.Client
	key    string
	script *goredis.Script
	stale  int64 // ms
}

func newEpochs(client *goredis.Client, keyPrefix, group string, staleMs int64) *epochs {
	return &epochs{client: client, key: keyPrefix + "cluster:" + group + ":generation", script: goredis.NewScript(registerScript), stale: staleMs}
}

// register returns the epoch for generation gen, or ok=false when gen is older than the
// group's live generation (retry at the next heartbeat).
func (e *epochs) register(ctx context.Context, gen int32) (epoch int64, ok bool, err error) {
	v, err := e.script.Run(ctx, e.client, []string{e.key}, gen, e.stale).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("cluster: register generation %d in redis: %w", gen, err)
	}
	if v < 0 {
		return 0, false, nil
	}
	return v, true, nil
}
