package io.rulesync.interop;

import com.alibaba.fastjson.JSON;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The line protocol towards the Go tests. Only this class writes to the
 * process's real stdout: {@link #init()} points System.out at stderr, so that
 * whatever a library prints cannot be mistaken for a result line.
 */
final class Out {
    private static PrintStream proto;
    private static volatile boolean ready;

    private Out() {
    }

    static void init() {
        proto = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err);
    }

    /** Prints {@code READY <json>}; lines printed before it are diagnostics on stderr. */
    static synchronized void ready(Map<String, Object> info) {
        proto.println("READY " + JSON.toJSONString(info));
        ready = true;
    }

    static boolean isReady() {
        return ready;
    }

    /** Prints one JSON object line. */
    static synchronized void line(Map<String, Object> fields) {
        proto.println(JSON.toJSONString(fields));
    }

    /**
     * Prints a JSON object line whose last field is raw JSON text, copied
     * byte for byte: rules are shown exactly as Sentinel's fastjson wrote them.
     */
    static synchronized void lineWithRaw(Map<String, Object> fields, String rawKey, String rawJson) {
        String head = JSON.toJSONString(fields);
        StringBuilder b = new StringBuilder(head.length() + rawJson.length() + rawKey.length() + 8);
        b.append(head, 0, head.length() - 1);
        if (!fields.isEmpty()) {
            b.append(',');
        }
        b.append(JSON.toJSONString(rawKey)).append(':').append(rawJson).append('}');
        proto.println(b);
    }

    static void error(String message) {
        line(obj("event", "error", "message", message));
    }

    /** Builds an ordered map from key, value pairs. */
    static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
