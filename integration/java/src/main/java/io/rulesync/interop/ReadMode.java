package io.rulesync.interop;

import com.alibaba.csp.sentinel.datasource.AbstractDataSource;
import com.alibaba.csp.sentinel.datasource.Converter;
import com.alibaba.csp.sentinel.property.PropertyListener;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Java Sentinel app reading one rule family from one backend through
 * Sentinel's own datasource. After READY it prints the manager's rules once
 * ("cause":"load"), then again on every change the property passes on
 * ("cause":"update"). Every payload the datasource hands to the converter is
 * announced first ("event":"received"), because Sentinel's property drops a
 * value equal to the current one without telling its listeners.
 */
final class ReadMode implements Mode {
    private final RuleFamily family;
    private final Backend backend;
    private final AtomicLong seq = new AtomicLong();
    private AbstractDataSource<String, Object> ds;

    ReadMode(Flags f) {
        family = RuleFamily.of(f.require("family"));
        backend = Backend.fromFlags(f);
    }

    @Override
    public void start() {
        Converter<String, Object> parser = source -> {
            if (Out.isReady()) {
                Out.line(Out.obj("event", "received", "family", family.id,
                    "bytes", source == null ? -1 : source.getBytes(StandardCharsets.UTF_8).length));
            }
            try {
                return family.parse(source);
            } catch (RuntimeException e) {
                Out.line(Out.obj("event", "parse-error", "family", family.id, "message", String.valueOf(e.getMessage())));
                throw e;
            }
        };
        ds = backend.dataSource(parser);
        family.register(ds.getProperty());
        Map<String, Object> info = Out.obj("mode", "read", "family", family.id);
        info.putAll(backend.describe());
        Out.ready(info);
        ds.getProperty().addListener(new PropertyListener<Object>() {
            @Override
            public void configUpdate(Object value) {
                print("update");
            }

            @Override
            public void configLoad(Object value) {
                print("load");
            }
        });
    }

    private void print(String cause) {
        // Sequence and snapshot under one lock, so that lines come out in the
        // order the manager's state changed.
        synchronized (this) {
            Map<String, Object> m = Out.obj("event", "rules", "family", family.id, "seq", seq.incrementAndGet(),
                "cause", cause);
            Map<String, Object> extra = family.extra();
            if (extra != null) {
                m.putAll(extra);
            }
            Out.lineWithRaw(m, "rules", family.rulesJson());
        }
    }

    @Override
    public void command(String line) {
        if (line.equals("rules")) {
            print("query");
            return;
        }
        throw new IllegalArgumentException("unknown command: " + line + " (read mode knows: rules)");
    }

    @Override
    public void close() {
        if (ds != null) {
            try {
                ds.close();
            } catch (Exception e) {
                System.err.println("close datasource: " + e);
            }
        }
    }
}
