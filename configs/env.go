package configs

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

// EnvPrefix starts every environment override: ACTIONSTREAM_SINKS_KAFKA_BROKERS=a:9092,b:9092.
const EnvPrefix = "ACTIONSTREAM_"

var durationType = reflect.TypeFor[confkit.Duration]()

// applyEnv sets every scalar field (and string lists, comma-separated) named by an
// ACTIONSTREAM_<YAML_PATH> variable. Lists of structs (streams) come from YAML only.
func applyEnv(cfg *Config, environ []string) error {
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	known := map[string]bool{}
	err := walkEnv(reflect.ValueOf(cfg).Elem(), "", func(name, path string, f reflect.Value) error {
		known[name] = true
		v, ok := vars[name]
		if !ok {
			return nil
		}
		if err := setScalar(f, v); err != nil {
			return &FieldError{Path: path, Msg: fmt.Sprintf("from %s: %v", name, err)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k := range vars {
		// Variables that configure other things (e.g. the ORT library path) share the prefix.
		if !known[k] && !strings.HasPrefix(k, EnvPrefix+"ORT_") && k != EnvPrefix+"PYTHON" {
			return &FieldError{Path: strings.ToLower(strings.TrimPrefix(k, EnvPrefix)), Msg: fmt.Sprintf("from %s: no such setting", k)}
		}
	}
	return nil
}

func walkEnv(v reflect.Value, path string, visit func(name, path string, f reflect.Value) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		f := v.Field(i)
		if opts == "inline" && f.Kind() == reflect.Struct {
			// A section that embeds a stage's config: its keys are the section's own.
			if err := walkEnv(f, path, visit); err != nil {
				return err
			}
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		p := tag
		if path != "" {
			p = path + "." + tag
		}
		if f.Kind() == reflect.Struct && f.Type() != durationType {
			if err := walkEnv(f, p, visit); err != nil {
				return err
			}
			continue
		}
		if f.Kind() == reflect.Slice && f.Type().Elem().Kind() != reflect.String {
			continue
		}
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(p, ".", "_"))
		if err := visit(name, p, f); err != nil {
			return err
		}
	}
	return nil
}

func setScalar(f reflect.Value, s string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Uint16:
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return err
		}
		f.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported kind %s", f.Kind())
	}
	return nil
}
