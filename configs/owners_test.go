package configs

import (
	"reflect"
	"strings"
)

const module = "github.com/actionstream/actionstream/"

// KeyOwners maps every YAML key (list entries as "streams.url") to the package that owns it:
// the one whose type holds the field, "configs" for the daemon's own keys.
func KeyOwners() map[string]string {
	out := map[string]string{}
	walkOwners(reflect.TypeFor[Config](), "", out)
	return out
}

func walkOwners(t reflect.Type, path string, out map[string]string) {
	owner := strings.TrimPrefix(t.PkgPath(), module)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		ft := f.Type
		if opts == "inline" {
			walkOwners(ft, path, out)
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		p := tag
		if path != "" {
			p = path + "." + tag
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			walkOwners(ft, p, out)
			continue
		}
		out[p] = owner
	}
}
