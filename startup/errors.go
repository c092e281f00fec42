package startup

import (
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every *ConfigError: a startup file
// that cannot be used as it is.
var ErrInvalid = fmt.Errorf("startup: invalid startup file")

// Problem is one thing wrong with a startup file.
type Problem struct {
	// Path is the key's YAML path, such as "datasource.flow.file.rule-type";
	// empty for the file as a whole.
	Path string
	// Line is where in the file the key (or, for a missing key, its parent)
	// is written, from 1; 0 when the value came from the environment or the
	// problem concerns the whole file.
	Line int
	// Env names the environment variable that gave the value, if one did.
	Env string
	// Message says what is wrong; it never holds a secret's value.
	Message string
}

// String formats the problem as file:line: path: message (the file name
// left out).
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Env != "":
		b.WriteString("$" + p.Env + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ConfigError lists every problem found in a startup file.
type ConfigError struct {
	File     string // the file's name as given to Load or Parse
	Problems []Problem
}

// Error lists the problems one per line after a summary line, each as
// file:line: path: message (or $VARIABLE: path: message for a value from the
// environment), in the order of the file.
func (e *ConfigError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "startup file %s: %d problem", e.File, n)
	if n != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n")
		switch {
		case p.Env != "":
			b.WriteString("$" + p.Env)
		case p.Line > 0:
			fmt.Fprintf(&b, "%s:%d", e.File, p.Line)
		default:
			b.WriteString(e.File)
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path + ": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalid }

// problems collects Problems while a file is checked.
type problems struct{ list []Problem }

func (ps *problems) add(path string, line int, env string, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Line: line, Env: env, Message: fmt.Sprintf(format, args...)})
}

// at adds a problem about the value v.
func (ps *problems) at(v *value, format string, args ...any) {
	ps.add(v.path, v.line, v.env, format, args...)
}

// err returns the ConfigError of the problems found, in file order (those
// from the environment after them), or nil.
func (ps *problems) err(file string) error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if (a.Env == "") != (b.Env == "") {
			return a.Env == ""
		}
		if a.Env != "" {
			return a.Env < b.Env
		}
		return a.Line < b.Line
	})
	return &ConfigError{File: file, Problems: list}
}
