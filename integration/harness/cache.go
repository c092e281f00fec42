package harness

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvCacheDir overrides where the harness looks for servers that the setup
// scripts build or resolve (default $HOME/.cache/rulesync).
const EnvCacheDir = "RULESYNC_CACHE_DIR"

// cacheDir is the root of the setup scripts' cache, joined with elem.
func cacheDir(elem ...string) (string, error) {
	root := os.Getenv(EnvCacheDir)
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%w: no home directory for the server cache (set %s): %v", errUnavailable, EnvCacheDir, err)
		}
		root = filepath.Join(home, ".cache", "rulesync")
	}
	return filepath.Join(append([]string{root}, elem...)...), nil
}

// cachedBinary returns the path of a binary a setup script put under
// <cache>/bin, wrapping errUnavailable (naming the script) when it is missing.
func cachedBinary(name, script string) (string, error) {
	p, err := cacheDir("bin", name)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s not built at %s (run %s)", errUnavailable, name, p, script)
	}
	return p, nil
}
