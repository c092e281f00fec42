package startup

import (
	"sort"
	"strings"

	"github.com/rulesync/rulesync/datasource"
)

// envName is the environment variable that overrides the key at path:
// RULESYNC_DATASOURCE_FLOW_FILE_MAX_SIZE for datasource.flow.file.max-size.
func envName(prefix, path string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return prefix + "_" + strings.ToUpper(r.Replace(path))
}

// envTarget is where an environment variable's value goes.
type envTarget struct {
	path  string
	store func(v *value)
}

// applyEnv sets the keys that environment variables override (see the
// package doc), and reports variables under the datasource prefix that name
// no key.
func applyEnv(raw *rawFile, o *options, backends datasource.Backends, ps *problems) {
	if o.envPrefix == "" {
		return
	}
	targets := map[string][]envTarget{}
	add := func(path string, store func(v *value)) {
		name := envName(o.envPrefix, path)
		targets[name] = append(targets[name], envTarget{path: path, store: store})
	}
	for _, k := range topScalars {
		add(k, func(v *value) { raw.top[k] = v })
	}
	for _, en := range raw.entries {
		keys := append([]string{}, entryKeys...)
		if b, err := backends.Lookup(en.backend); err == nil {
			keys = append(keys, paramKeys(b.Params)...)
		}
		for _, k := range keys {
			add(en.path+"."+en.backend+"."+k, func(v *value) { en.keys[k] = v })
		}
	}
	for _, rs := range raw.sections {
		for _, s := range o.sections {
			if s.Key != rs.key {
				continue
			}
			for _, k := range paramKeys(s.Params) {
				add(rs.key+"."+k, func(v *value) { rs.values[k] = v })
			}
		}
	}
	var names []string
	for name := range o.env {
		if strings.HasPrefix(name, o.envPrefix+"_") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var declared []string
	for _, en := range raw.entries {
		declared = append(declared, en.name)
	}
	dsPrefix := envName(o.envPrefix, keyDataSource) + "_"
	for _, name := range names {
		text := o.env[name]
		if text == "" {
			continue
		}
		ts := targets[name]
		switch {
		case len(ts) == 1:
			ts[0].store(&value{text: text, path: ts[0].path, env: name})
		case len(ts) > 1:
			paths := make([]string, len(ts))
			for i, t := range ts {
				paths[i] = t.path
			}
			ps.add("", 0, name, "names more than one key (%s): rename a datasource", strings.Join(paths, ", "))
		case strings.HasPrefix(name, dsPrefix):
			msg := "names no key of a datasource the file declares"
			if len(declared) > 0 {
				msg += " (" + strings.Join(declared, ", ") + ")"
			}
			ps.add("", 0, name, "%s: environment variables set keys of datasources and their backend's parameters, as %s_<NAME>_<BACKEND>_<KEY>", msg, strings.TrimSuffix(dsPrefix, "_"))
		}
	}
}

// paramKeys are the keys a parameter list accepts, secrets' -env and -file
// forms included.
func paramKeys(params []datasource.Param) []string {
	var keys []string
	for _, p := range params {
		keys = append(keys, p.Name)
		if p.Secret {
			keys = append(keys, p.Name+"-env", p.Name+"-file")
		}
	}
	return keys
}
