package plot

import "errors"

// ErrNoData is returned when a chart has nothing finite to draw.
var ErrNoData = errors.New("plot: no data")
