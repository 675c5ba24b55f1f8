package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// redisLogger routes go-redis's own (package-wide) log lines — one per failed dial — to slog
// at debug level: the sink already reports outages as periodic totals.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "redis-client")
}

func quietRedisClientLogs(log *slog.Logger) { goredis.SetLogger(redisLogger{log}) }
