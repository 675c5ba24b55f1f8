package configs

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
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

// The README's table of who owns which key agrees with the types.
func TestREADMEOwnershipTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		pattern *regexp.Regexp
		literal bool
		owner   string
		length  int
	}
	var rows []row
	inTable := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| keys | owner") {
			inTable = true
			continue
		}
		if inTable && !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		if !inTable || len(cells) < 3 || strings.HasPrefix(cells[1], "---") {
			continue
		}
		owner := strings.Trim(strings.Fields(cells[2])[0], "`")
		for _, k := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			key := strings.ReplaceAll(k[1], "[]", "")
			re := "^" + strings.ReplaceAll(regexp.QuoteMeta(key), `\*`, `.+`) + "$"
			rows = append(rows, row{regexp.MustCompile(re), !strings.Contains(key, "*"), owner, len(key)})
		}
	}
	if len(rows) == 0 {
		t.Fatal("no ownership table in README.md")
	}
	for key, owner := range KeyOwners() {
		best := -1
		for i, r := range rows {
			if !r.pattern.MatchString(key) {
				continue
			}
			if best < 0 || r.literal && !rows[best].literal || r.literal == rows[best].literal && r.length > rows[best].length {
				best = i
			}
		}
		switch {
		case best < 0:
			t.Errorf("README: no row covers %s (owned by %s)", key, owner)
		case rows[best].owner != owner:
			t.Errorf("README says %s belongs to %s; it belongs to %s", key, rows[best].owner, owner)
		}
	}
}
