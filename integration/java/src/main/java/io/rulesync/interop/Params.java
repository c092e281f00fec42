package io.rulesync.interop;

import com.alibaba.fastjson.JSON;
import com.alibaba.fastjson.JSONArray;
import com.alibaba.fastjson.JSONObject;

import java.util.ArrayList;
import java.util.List;

/**
 * Typed parameter lists for hot-param requests and entries, written as JSON:
 * {@code [{"t":"string","v":"a"},{"t":"int","v":5}]}. The Java type matters:
 * Sentinel tells Integer 1 from Long 1, and its cluster client encodes each
 * type with its own tag. "char" yields a Character, a type the cluster client
 * cannot encode (it drops it), to test that path.
 */
final class Params {
    private Params() {
    }

    static List<Object> parse(String json) {
        JSONArray arr;
        try {
            arr = JSON.parseArray(json);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("params: not a JSON array: " + e.getMessage());
        }
        if (arr == null) {
            throw new IllegalArgumentException("params: empty");
        }
        List<Object> out = new ArrayList<>(arr.size());
        for (int i = 0; i < arr.size(); i++) {
            Object o = arr.get(i);
            if (!(o instanceof JSONObject)) {
                throw new IllegalArgumentException("params[" + i + "]: want {\"t\":type,\"v\":value}, got " + o);
            }
            JSONObject p = (JSONObject) o;
            String t = p.getString("t");
            Object v = p.get("v");
            if (t == null || v == null) {
                throw new IllegalArgumentException("params[" + i + "]: needs both t and v");
            }
            out.add(convert(i, t, v));
        }
        return out;
    }

    private static Object convert(int i, String t, Object v) {
        String s = String.valueOf(v);
        try {
            switch (t) {
                case "string":
                    return s;
                case "int":
                    return Integer.valueOf(s);
                case "long":
                    return Long.valueOf(s);
                case "byte":
                    return Byte.valueOf(s);
                case "short":
                    return Short.valueOf(s);
                case "double":
                    return Double.valueOf(s);
                case "float":
                    return Float.valueOf(s);
                case "bool":
                case "boolean":
                    if (!s.equals("true") && !s.equals("false")) {
                        throw new NumberFormatException("not true/false");
                    }
                    return Boolean.valueOf(s);
                case "char":
                    if (s.length() != 1) {
                        throw new NumberFormatException("not one character");
                    }
                    return s.charAt(0);
                default:
                    throw new IllegalArgumentException("params[" + i + "]: unknown type " + t
                        + " (string, int, long, byte, short, double, float, bool, char)");
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("params[" + i + "]: " + t + " value " + s + ": " + e.getMessage());
        }
    }
}
