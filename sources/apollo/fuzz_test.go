package apollo

import (
	"encoding/json"
	"testing"
)

// FuzzConfigValue: any answer of the config service decodes to the key's
// value, a missing key, or an error; never a panic, and a value is exactly
// what the JSON holds.
func FuzzConfigValue(f *testing.F) {
	for _, s := range []string{
		`{"appId":"a","cluster":"default","namespaceName":"application","configurations":{"k":"[]"},"releaseKey":"r"}`,
		`{"configurations":{}}`, `{"configurations":null}`, `{"configurations":{"k":1}}`, `{}`, `[]`, `null`, ``, `{`,
		`{"configurations":{"k":"\u0000\ud800"}}`,
	} {
		f.Add([]byte(s), "k")
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		snap, err := configValue(body, key)
		if err != nil {
			if snap.Exists {
				t.Fatalf("error %v with a snapshot", err)
			}
			return
		}
		var c struct{ Configurations map[string]string }
		if json.Unmarshal(body, &c) != nil {
			t.Fatalf("configValue accepted %q that does not decode", body)
		}
		v, ok := c.Configurations[key]
		if snap.Exists != ok || string(snap.Data) != v {
			t.Fatalf("configValue(%q, %q) = %+v, want %q %v", body, key, snap, v, ok)
		}
	})
}
