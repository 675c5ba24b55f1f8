package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ClassesFile is the label-order file looked for beside a labels CSV.
const ClassesFile = "classes.txt"

// LabelOrder is the label (logit) order for the videos of a labels CSV, the one rule
// `train prepare`, `train expand` and Prepare share: the classes value when given (see
// ParseClasses), else classes.txt beside the CSV when present, else the CSV's labels in
// order of first appearance.
func LabelOrder(labelsCSV, classes string) ([]string, error) {
	if classes != "" {
		return ParseClasses(classes)
	}
	beside := filepath.Join(filepath.Dir(labelsCSV), ClassesFile)
	if _, err := os.Stat(beside); err == nil {
		return ReadLabelList(beside)
	}
	videos, err := ReadLabels(labelsCSV)
	if err != nil {
		return nil, err
	}
	return appearanceOrder(videos), nil
}

func appearanceOrder(videos []Video) []string {
	var labels []string
	for _, v := range videos {
		if !slices.Contains(labels, v.Label) {
			labels = append(labels, v.Label)
		}
	}
	return labels
}

// ParseClasses reads a --classes value: the path of a label file (one per line, see
// ReadLabelList) when such a file exists, else a comma-separated list.
func ParseClasses(v string) ([]string, error) {
	if _, err := os.Stat(v); err == nil {
		return ReadLabelList(v)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrLabels, err)
	}
	if !strings.Contains(v, ",") && (strings.ContainsRune(v, os.PathSeparator) || filepath.Ext(v) != "") {
		return nil, fmt.Errorf("%w: classes file %s does not exist", ErrLabels, v)
	}
	var out []string
	for _, c := range strings.Split(v, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if slices.Contains(out, c) {
			return nil, fmt.Errorf("%w: class %q twice", ErrLabels, c)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no classes in %q", ErrLabels, v)
	}
	return out, nil
}
