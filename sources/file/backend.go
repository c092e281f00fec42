package file

import (
	"context"
	"path/filepath"
	"time"

	"github.com/rulesync/rulesync/datasource"
)

// backendParams are the parameters of Backend. "file" is Spring Cloud
// Alibaba's name for the path.
type backendParams struct {
	File     string        `param:"file,required" usage:"path of the rules file (it need not exist yet)"`
	Dir      string        `param:"dir" usage:"directory of the files named by data id (file = dir/<data id>.json)"`
	MaxSize  int64         `param:"max-size" usage:"largest file read, in bytes (default 4 MiB)"`
	Debounce time.Duration `param:"debounce" usage:"quiet time after a change before the file is read (default 20ms)"`
}

// Backend returns the file entry of a backend table. Every source it opens
// gets opts (after the options its parameters set).
func Backend(opts ...Option) datasource.Backend {
	return datasource.Backend{
		Name:    "file",
		Summary: "one local file; watched with fsnotify, written with a content-hash check and an atomic rename",
		Params:  datasource.ParamsOf(backendParams{}),
		Primary: "file",
		// Debounce -1: not given (0 is a valid setting).
		Open: datasource.TypedOpen("file", backendParams{Debounce: -1}, func(_ context.Context, bp backendParams) (datasource.WritableSource, error) {
			var all []Option
			if bp.MaxSize != 0 {
				all = append(all, WithMaxSize(bp.MaxSize))
			}
			if bp.Debounce >= 0 {
				all = append(all, WithDebounce(bp.Debounce))
			}
			return New(bp.File, append(all, opts...)...)
		}),
		DataID: func(p datasource.Params, dataID string) datasource.Params {
			q := p.Clone()
			q["file"] = filepath.Join(q["dir"], dataID+".json")
			return q
		},
	}
}
