package io.rulesync.interop;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Command-line flags: {@code --name=value} or {@code --name value}; a flag may
 * repeat (see {@link #all}). Every flag a mode reads is marked as used, and
 * {@link #rejectUnused()} refuses the rest, so a misspelt flag is an error
 * instead of a silently ignored setting.
 */
final class Flags {
    private final Map<String, List<String>> values = new LinkedHashMap<>();
    private final Set<String> used = new HashSet<>();

    static Flags parse(String[] args, int from) {
        Flags f = new Flags();
        for (int i = from; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--") || a.length() == 2) {
                throw new IllegalArgumentException("unexpected argument " + a + " (flags are --name=value)");
            }
            String name;
            String value;
            int eq = a.indexOf('=');
            if (eq > 0) {
                name = a.substring(2, eq);
                value = a.substring(eq + 1);
            } else {
                name = a.substring(2);
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("flag --" + name + " needs a value");
                }
                value = args[++i];
            }
            f.values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
        return f;
    }

    String get(String name, String def) {
        used.add(name);
        List<String> v = values.get(name);
        return v == null ? def : v.get(v.size() - 1);
    }

    String require(String name) {
        String v = get(name, null);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("flag --" + name + " is required");
        }
        return v;
    }

    boolean has(String name) {
        used.add(name);
        return values.containsKey(name);
    }

    List<String> all(String name) {
        used.add(name);
        List<String> v = values.get(name);
        return v == null ? new ArrayList<>() : v;
    }

    int getInt(String name, int def) {
        String v = get(name, null);
        if (v == null) {
            return def;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("flag --" + name + ": not an integer: " + v);
        }
    }

    double getDouble(String name, double def) {
        String v = get(name, null);
        if (v == null) {
            return def;
        }
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("flag --" + name + ": not a number: " + v);
        }
    }

    void rejectUnused() {
        for (String name : values.keySet()) {
            if (!used.contains(name)) {
                throw new IllegalArgumentException("unknown flag --" + name);
            }
        }
    }
}
