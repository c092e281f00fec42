package startup

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rulesync/rulesync/internal/suggest"
)

// value is one setting as written: in the file (line) or in the
// environment (env).
type value struct {
	text string
	path string
	line int
	env  string
}

// rawEntry is one datasource as written, before the tables are consulted.
type rawEntry struct {
	name        string
	path        string // datasource.<name>
	line        int
	backend     string
	backendLine int
	keys        map[string]*value // the keys under the backend
	bad         map[string]bool   // keys whose value is already reported as malformed
}

// rawSection is the settings of a Section's key, flattened to dotted keys.
type rawSection struct {
	key    string
	line   int
	values map[string]*value
}

// rawFile is a startup file as written.
type rawFile struct {
	top      map[string]*value
	dsLine   int // line of the datasource key; -1 when absent
	entries  []*rawEntry
	sections []*rawSection
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readYAML reads the file's structure, adding a problem for every key that
// is not where it belongs. It returns nil when the file cannot be read as
// YAML at all.
func readYAML(data []byte, ps *problems, o *options, backendNames []string) *rawFile {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		ps.add("", line, "", "not YAML: %s", msg)
		return nil
	}
	raw := &rawFile{top: map[string]*value{}, dsLine: -1}
	if doc.Kind == 0 || len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
		ps.add("", 0, "", "the file is empty: declare the datasources under datasource.<name>.<backend>")
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		ps.add("", root.Line, "", "the file must be a mapping of keys (app, datasource, ...), not %s", kindName(root))
		return nil
	}
	known := append(append([]string{}, topScalars...), keyDataSource)
	for k := range reserved {
		known = append(known, k)
	}
	for _, s := range o.sections {
		if !contains(known, s.Key) {
			known = append(known, s.Key)
		}
	}
	sort.Strings(known)
	eachKey(root, "", ps, func(key string, kn, vn *yaml.Node) {
		switch {
		case contains(topScalars, key):
			if v := scalar(vn, key, ps); v != nil {
				raw.top[key] = v
			}
		case key == keyDataSource:
			raw.dsLine = kn.Line
			readDataSources(vn, raw, ps, backendNames)
		case hasSection(o, key):
			rs := &rawSection{key: key, line: kn.Line, values: map[string]*value{}}
			flatten(vn, key, "", rs.values, ps)
			raw.sections = append(raw.sections, rs)
		case reserved[key] != "":
			ps.add(key, kn.Line, "", "not handled by this program (reserved for %s, which a startup.Section brings: see package startup/sections)", reserved[key])
		default:
			unknownKey(ps, key, key, kn.Line, known)
		}
	})
	if raw.dsLine < 0 {
		ps.add("", 0, "", "no datasource key: declare the datasources under datasource.<name>.<backend>")
	}
	return raw
}

func hasSection(o *options, key string) bool {
	for _, s := range o.sections {
		if s.Key == key {
			return true
		}
	}
	return false
}

func readDataSources(n *yaml.Node, raw *rawFile, ps *problems, backendNames []string) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return // reported as "no datasource is declared"
		}
		ps.add(keyDataSource, n.Line, "", "must map datasource names to their settings, not %s", kindName(n))
		return
	}
	eachKey(n, keyDataSource, ps, func(name string, kn, vn *yaml.Node) {
		path := keyDataSource + "." + name
		if !validName.MatchString(name) {
			ps.add(path, kn.Line, "", "datasource name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", name)
			return
		}
		vn = resolve(vn)
		if vn.Kind != yaml.MappingNode || len(vn.Content) == 0 {
			if vn.Kind == yaml.MappingNode || vn.Tag == "!!null" {
				ps.add(path, kn.Line, "", "holds no backend key: give one (%s) with the datasource's settings under it", strings.Join(backendNames, ", "))
			} else {
				ps.add(path, kn.Line, "", "must be a mapping with one backend key (%s), not %s", strings.Join(backendNames, ", "), kindName(vn))
			}
			return
		}
		if len(vn.Content) > 2 {
			var names []string
			for i := 0; i < len(vn.Content); i += 2 {
				names = append(names, vn.Content[i].Value)
			}
			ps.add(path, kn.Line, "", "names %d backends (%s): a datasource has one", len(names), strings.Join(names, ", "))
			return
		}
		en := &rawEntry{name: name, path: path, line: kn.Line, keys: map[string]*value{}, bad: map[string]bool{},
			backend: vn.Content[0].Value, backendLine: vn.Content[0].Line}
		bn := resolve(vn.Content[1])
		bpath := path + "." + en.backend
		if bn.Kind != yaml.MappingNode {
			ps.add(bpath, en.backendLine, "", "must hold the datasource's settings (rule-type and the backend's parameters), not %s", kindName(bn))
			return
		}
		eachKey(bn, bpath, ps, func(key string, kn, vn *yaml.Node) {
			v := scalar(vn, bpath+"."+key, ps)
			if v == nil {
				en.bad[key] = true
			} else if v.text != "" {
				en.keys[key] = v
			}
		})
		raw.entries = append(raw.entries, en)
	})
	sort.Slice(raw.entries, func(i, j int) bool { return raw.entries[i].name < raw.entries[j].name })
}

// eachKey calls fn for every key of the mapping n, reporting keys that are
// not plain text and keys given twice.
func eachKey(n *yaml.Node, parent string, ps *problems, fn func(key string, kn, vn *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), n.Content[i+1]
		path := join(parent, kn.Value)
		if kn.Kind != yaml.ScalarNode {
			ps.add(parent, kn.Line, "", "a key must be plain text, not %s", kindName(kn))
			continue
		}
		if first, dup := seen[kn.Value]; dup {
			ps.add(path, kn.Line, "", "given twice (first on line %d)", first)
			continue
		}
		seen[kn.Value] = kn.Line
		fn(kn.Value, kn, vn)
	}
}

// scalar returns the text of a value node: a scalar, or a list of scalars
// joined with commas. A null is the empty text.
func scalar(n *yaml.Node, path string, ps *problems) *value {
	n = resolve(n)
	switch n.Kind {
	case yaml.ScalarNode:
		text := n.Value
		if n.Tag == "!!null" {
			text = ""
		}
		return &value{text: text, path: path, line: n.Line}
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, it := range n.Content {
			it = resolve(it)
			if it.Kind != yaml.ScalarNode {
				ps.add(path, it.Line, "", "a list here holds plain values, not %s", kindName(it))
				return nil
			}
			items = append(items, it.Value)
		}
		return &value{text: strings.Join(items, ","), path: path, line: n.Line}
	}
	ps.add(path, n.Line, "", "must be a single value (or a list of values), not %s", kindName(n))
	return nil
}

// flatten stores the scalars under n as dotted keys below prefix.
func flatten(n *yaml.Node, path, prefix string, out map[string]*value, ps *problems) {
	n = resolve(n)
	if strings.Count(path, ".") > 16 {
		ps.add(path, n.Line, "", "nested too deep")
		return
	}
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return
		}
		if prefix == "" {
			ps.add(path, n.Line, "", "must hold settings (a mapping), not %s", kindName(n))
			return
		}
		if v := scalar(n, path, ps); v != nil && v.text != "" {
			out[prefix] = v
		}
		return
	}
	eachKey(n, path, ps, func(key string, _, vn *yaml.Node) {
		flatten(vn, path+"."+key, join(prefix, key), out, ps)
	})
}

// resolve follows aliases (*name) to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "nothing"
}

func unknownKey(ps *problems, path, key string, line int, known []string) {
	msg := "unknown key"
	if guess := suggest.Closest(key, known); guess != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", guess)
	}
	ps.add(path, line, "", "%s; known: %s", msg, strings.Join(known, ", "))
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
