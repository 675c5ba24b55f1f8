package configs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/clipper/motion"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/sink/sinks"
)

// stageDefaults is, per section, the stage function that defines its defaults.
var stageDefaults = map[string]func() any{
	"model":      func() any { return infer.DefaultModelConfig() },
	"decode":     func() any { return decode.DefaultLimits() },
	"clipper":    func() any { return clipper.DefaultSpacing() },
	"batcher":    func() any { return infer.DefaultBatcherConfig() },
	"infer":      func() any { return infer.DefaultConfig() },
	"events":     func() any { return events.DefaultConfig() },
	"motion":     func() any { return motion.DefaultConfig() },
	"supervisor": func() any { return ingest.DefaultBackoff() },
	"sinks":      func() any { return sinks.DefaultConfig() },
	"detection":  func() any { return infer.DefaultDetectionConfig() },
}

// The daemon's own keys: everything else belongs to a stage.
var ownKeys = []string{"http.addr", "http.allowed_hosts", "http.idle_timeout", "http.max_requests", "http.read_header_timeout",
	"http.read_timeout", "http.tls_cert", "http.tls_key", "http.write_timeout", "log.format", "log.level", "shutdown_timeout", "state_dir",
	"web.enabled", "web.max_event_clients", "web.open", "web.token", "whip.enabled"}

// Every section typed by a stage package takes exactly that stage's defaults.
func TestDefaultIsEachStagesDefault(t *testing.T) {
	d := reflect.ValueOf(Default())
	typ := d.Type()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.PkgPath() == typ.PkgPath() || ft.PkgPath() == "" || key == "streams" || key == "shutdown_timeout" || key == "state_dir" {
			continue // the daemon's own section, or a list with no default
		}
		def, ok := stageDefaults[key]
		if !ok {
			t.Errorf("section %s (%s) is a stage's type but the test knows no stage default for it", key, ft)
			continue
		}
		if got, want := d.Field(i).Interface(), def(); !reflect.DeepEqual(got, want) {
			t.Errorf("Default().%s = %+v, the stage's default is %+v", f.Name, got, want)
		}
	}
	if got, want := Default().WHIP.Config, whip.DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default().WHIP = %+v, whip's default is %+v", got, want)
	}
	if len(Default().Streams) != 0 {
		t.Error("streams have no default")
	}
}

// configs' Default sets a stage section only by calling the stage's default function, so no
// stage default is written twice.
func TestDefaultWritesNoStageValue(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lit *ast.CompositeLit
	ast.Inspect(f, func(n ast.Node) bool {
		if fn, ok := n.(*ast.FuncDecl); ok && fn.Name.Name == "Default" {
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if c, ok := n.(*ast.CompositeLit); ok && lit == nil {
					lit = c
				}
				return true
			})
		}
		return true
	})
	if lit == nil {
		t.Fatal("no composite literal in Default")
	}
	stageFields := map[string]bool{"Model": true, "Decode": true, "Clipper": true, "Batcher": true, "Events": true, "Supervisor": true, "Sinks": true}
	for _, e := range lit.Elts {
		kv := e.(*ast.KeyValueExpr)
		name := kv.Key.(*ast.Ident).Name
		if !stageFields[name] {
			continue
		}
		delete(stageFields, name)
		call, ok := kv.Value.(*ast.CallExpr)
		if !ok || len(call.Args) != 0 {
			t.Errorf("Default sets %s to %T, want a call of the stage's default function", name, kv.Value)
			continue
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || !strings.HasPrefix(sel.Sel.Name, "Default") {
			t.Errorf("Default sets %s by calling something other than a stage's Default…", name)
		}
	}
	for name := range stageFields {
		t.Errorf("Default does not set %s from its stage", name)
	}
}

// Every scalar key is owned by a stage type unless it is one of the daemon's own few.
func TestKeyOwnership(t *testing.T) {
	own := KeyOwners()
	var daemon []string
	for key, owner := range own {
		if owner == "configs" {
			daemon = append(daemon, key)
		}
	}
	slices.Sort(daemon)
	if !slices.Equal(daemon, ownKeys) {
		t.Errorf("keys owned by configs: %v, want %v", daemon, ownKeys)
	}
	for key, want := range map[string]string{
		"batcher.max_wait": "infer", "model.runtime.provider": "infer", "events.on": "events", "decode.max_width": "decode",
		"clipper.gap_tolerance": "clipper", "supervisor.backoff_max": "ingest", "sinks.buffer": "sink/sinks",
		"sinks.kafka.brokers": "sink/kafka", "sinks.outbox.fsync": "sink/outbox", "sinks.down_grace": "sink/sinks",
		"sinks.kafka.topics.partitions": "sink/kafka", "sinks.redis.ttl": "sink/redis", "whip.udp_port_min": "ingest/whip",
		"whip.token": "ingest/whip", "streams.url": "ingest",
	} {
		if own[key] != want {
			t.Errorf("%s is owned by %q, want %q", key, own[key], want)
		}
	}
}

// The batcher's max_wait had two defaults (40ms here, 25ms in infer); now infer's is the only one.
func TestBatcherMaxWaitHasOneDefault(t *testing.T) {
	stage := infer.DefaultBatcherConfig().MaxWait
	zero := infer.BatcherConfig{}.WithDefaults().MaxWait
	if Default().Batcher.MaxWait != stage || zero != stage || stage.D() != 40*time.Millisecond {
		t.Fatalf("configs %v, stage %v, zero value %v: want one 40ms", Default().Batcher.MaxWait, stage, zero)
	}
	if ev := (events.Config{On: .6, Off: .4}).WithDefaults(); ev.Smoothing != events.DefaultConfig().Smoothing || ev.TopK != events.DefaultConfig().TopK {
		t.Fatalf("events zero values: %+v", ev)
	}
	if w := (whip.Config{}).WithDefaults(); w.MaxSessions != whip.DefaultConfig().MaxSessions || w.DisconnectTimeout != whip.DefaultConfig().DisconnectTimeout {
		t.Fatalf("whip zero values: %+v", w)
	}
}
