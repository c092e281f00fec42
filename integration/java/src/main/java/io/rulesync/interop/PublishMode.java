package io.rulesync.interop;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Base64;
import java.util.Map;

/**
 * Writes payloads to a backend the way Java tools do. With --payload-file (or
 * --payload-stdin) it writes once, prints the result and exits; otherwise it
 * prints READY and takes commands: {@code put <payload on one line>},
 * {@code put64 <base64 payload>} (any bytes, newlines included) and
 * {@code delete}.
 */
final class PublishMode implements Mode {
    private final Backend backend;
    private final String payloadFile;
    private final boolean payloadStdin;
    private Backend.Writer writer;

    PublishMode(Flags f) {
        backend = Backend.fromFlags(f);
        payloadFile = f.get("payload-file", null);
        payloadStdin = f.has("payload-stdin") && Boolean.parseBoolean(f.get("payload-stdin", "false"));
    }

    /** True when the mode writes once and exits instead of reading commands. */
    boolean oneShot() {
        return payloadFile != null || payloadStdin;
    }

    @Override
    public void start() throws Exception {
        writer = backend.writer();
        if (oneShot()) {
            String payload;
            if (payloadFile != null) {
                payload = new String(Files.readAllBytes(Paths.get(payloadFile)), StandardCharsets.UTF_8);
            } else {
                InputStream in = System.in;
                payload = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            result("put", payload.getBytes(StandardCharsets.UTF_8).length, writer.put(payload));
            return;
        }
        Map<String, Object> info = Out.obj("mode", "publish");
        info.putAll(backend.describe());
        Out.ready(info);
    }

    private void result(String op, int bytes, Map<String, Object> answer) {
        Map<String, Object> m = Out.obj("event", "published", "op", op, "backend", backend.kind);
        if (bytes >= 0) {
            m.put("bytes", bytes);
        }
        m.putAll(answer);
        Out.line(m);
    }

    @Override
    public void command(String line) throws Exception {
        String[] parts = line.split(" ", 2);
        switch (parts[0]) {
            case "put": {
                String payload = parts.length > 1 ? parts[1] : "";
                result("put", payload.getBytes(StandardCharsets.UTF_8).length, writer.put(payload));
                return;
            }
            case "put64": {
                byte[] raw = Base64.getDecoder().decode(parts.length > 1 ? parts[1].trim() : "");
                result("put", raw.length, writer.put(new String(raw, StandardCharsets.UTF_8)));
                return;
            }
            case "delete":
                result("delete", -1, writer.delete());
                return;
            default:
                throw new IllegalArgumentException("unknown command: " + parts[0] + " (publish mode knows: put, put64, delete)");
        }
    }

    @Override
    public void close() {
        if (writer != null) {
            writer.close();
        }
    }
}
