package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/ingest/cluster"
)

// cmdCameras is `cameras add|update|remove|list`: the records of the cluster's cameras topic.
func cmdCameras(verb string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newFlags("cameras "+verb, "[--config FILE.yaml] [flags]", "Brokers and topic come from the config's cluster section (or sinks.kafka.brokers).", stderr)
		configPath := fs.String("config", "", "YAML config file whose cluster section names the brokers and topic")
		brokers := fs.String("brokers", "", "comma-separated brokers (instead of the config's)")
		topic := fs.String("topic", "", "cameras topic (instead of the config's)")
		var cam cluster.Camera
		var asJSON *bool
		required := []string{"id"}
		switch verb {
		case "add", "update":
			fs.StringVar(&cam.ID, "id", "", "camera id (the stream id)")
			fs.StringVar(&cam.URL, "url", "", "rtsp://user@host/path (no password), file:// or a path")
			fs.StringVar(&cam.PasswordFrom, "password-from", "", "the URL's password on the nodes: env:NAME or file:PATH")
			fs.BoolVar(&cam.Loop, "loop", false, "files only: start again at the end")
			fs.StringVar(&cam.Transport, "transport", "", "rtsp only: tcp or udp")
			fs.StringVar(&cam.StallTimeout, "stall-timeout", "", "reconnect after this long without data, e.g. 5s")
			required = append(required, "url")
		case "remove":
			fs.StringVar(&cam.ID, "id", "", "camera id")
		default:
			asJSON = fs.Bool("json", false, "JSON instead of a table")
			required = nil
		}
		if err := parse(fs, args, required...); err != nil {
			return err
		}
		cfg := configs.Default()
		if *configPath != "" {
			var err error
			if cfg, err = configs.Load(*configPath, os.Environ()); err != nil {
				return err
			}
		}
		if *brokers != "" {
			cfg.Cluster.Brokers = strings.Split(*brokers, ",")
		}
		if *topic != "" {
			cfg.Cluster.Topic = *topic
		}
		cat, err := cluster.NewCatalog(cfg.Cluster, cfg.Sinks.Kafka.Brokers)
		if err != nil {
			return err
		}
		defer cat.Close()
		switch verb {
		case "add":
			err = cat.Add(ctx, cam)
		case "update":
			err = cat.Update(ctx, cam)
		case "remove":
			err = cat.Remove(ctx, cam.ID)
		default:
			list, err := cat.List(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				return json.NewEncoder(stdout).Encode(list)
			}
			return cluster.WriteList(stdout, list)
		}
		if err == nil {
			fmt.Fprintf(stdout, "camera %s: %s\n", cam.ID, map[string]string{"add": "added", "update": "updated", "remove": "removed"}[verb])
		}
		return err
	}
}
