package fit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/actionstream/actionstream/training/python"
)

// FillExportFromRun fills what the caller left empty in o (labels, name, trained_on) from a
// run's metrics.json; trainedOn, if set, wins. Without a run or its metrics.json, trained_on
// must be given.
func FillExportFromRun(run string, o *python.ExportOptions, trainedOn string) error {
	var m struct {
		Name   string   `json:"name"`
		Labels []string `json:"labels"`
		Data   string   `json:"data"`
		Train  int      `json:"train_clips"`
	}
	if run != "" {
		if b, err := os.ReadFile(filepath.Join(run, "metrics.json")); err == nil {
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("%s/metrics.json: %w", run, err)
			}
		}
	}
	if o.Labels == nil {
		o.Labels = m.Labels
	}
	if o.Name == "" {
		o.Name = m.Name
	}
	o.TrainedOn = trainedOn
	if o.TrainedOn == "" && m.Data != "" {
		o.TrainedOn = fmt.Sprintf("%s (%d train clips)", m.Data, m.Train)
	}
	if o.TrainedOn == "" {
		return fmt.Errorf("--trained-on is required without a run's metrics.json")
	}
	return nil
}
