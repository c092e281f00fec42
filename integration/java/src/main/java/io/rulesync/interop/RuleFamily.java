package io.rulesync.interop;

import com.alibaba.csp.sentinel.adapter.gateway.common.api.ApiDefinition;
import com.alibaba.csp.sentinel.adapter.gateway.common.api.ApiPathPredicateItem;
import com.alibaba.csp.sentinel.adapter.gateway.common.api.ApiPredicateGroupItem;
import com.alibaba.csp.sentinel.adapter.gateway.common.api.ApiPredicateItem;
import com.alibaba.csp.sentinel.adapter.gateway.common.api.GatewayApiDefinitionManager;
import com.alibaba.csp.sentinel.adapter.gateway.common.rule.GatewayFlowRule;
import com.alibaba.csp.sentinel.adapter.gateway.common.rule.GatewayRuleManager;
import com.alibaba.csp.sentinel.property.SentinelProperty;
import com.alibaba.csp.sentinel.slots.block.authority.AuthorityRule;
import com.alibaba.csp.sentinel.slots.block.authority.AuthorityRuleManager;
import com.alibaba.csp.sentinel.slots.block.degrade.DegradeRule;
import com.alibaba.csp.sentinel.slots.block.degrade.DegradeRuleManager;
import com.alibaba.csp.sentinel.slots.block.flow.FlowRule;
import com.alibaba.csp.sentinel.slots.block.flow.FlowRuleManager;
import com.alibaba.csp.sentinel.slots.block.flow.param.ParamFlowRule;
import com.alibaba.csp.sentinel.slots.block.flow.param.ParamFlowRuleManager;
import com.alibaba.csp.sentinel.slots.system.SystemRule;
import com.alibaba.csp.sentinel.slots.system.SystemRuleManager;
import com.alibaba.fastjson.JSON;
import com.alibaba.fastjson.JSONArray;
import com.alibaba.fastjson.JSONObject;
import com.alibaba.fastjson.TypeReference;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The rule families a Java Sentinel app can load from a datasource, named as
 * Spring Cloud Alibaba names them. Each parses a payload the way a typical
 * Sentinel app's converter does (fastjson into the rule classes), hands a
 * property to the family's rule manager, and reports what the manager holds,
 * serialized with fastjson as Sentinel's own getRules command does.
 */
enum RuleFamily {
    FLOW("flow") {
        Object parse(String s) {
            return JSON.parseObject(s, new TypeReference<List<FlowRule>>() {
            });
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        void register(SentinelProperty p) {
            FlowRuleManager.register2Property(p);
        }

        @SuppressWarnings("unchecked")
        void load(Object rules) {
            FlowRuleManager.loadRules((List<FlowRule>) rules);
        }

        Object rules() {
            return FlowRuleManager.getRules();
        }
    },
    DEGRADE("degrade") {
        Object parse(String s) {
            return JSON.parseObject(s, new TypeReference<List<DegradeRule>>() {
            });
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        void register(SentinelProperty p) {
            DegradeRuleManager.register2Property(p);
        }

        @SuppressWarnings("unchecked")
        void load(Object rules) {
            DegradeRuleManager.loadRules((List<DegradeRule>) rules);
        }

        Object rules() {
            return DegradeRuleManager.getRules();
        }
    },
    PARAM_FLOW("param-flow") {
        Object parse(String s) {
            return JSON.parseObject(s, new TypeReference<List<ParamFlowRule>>() {
            });
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        void register(SentinelProperty p) {
            ParamFlowRuleManager.register2Property(p);
        }

        @SuppressWarnings("unchecked")
        void load(Object rules) {
            ParamFlowRuleManager.loadRules((List<ParamFlowRule>) rules);
        }

        Object rules() {
            return ParamFlowRuleManager.getRules();
        }
    },
    SYSTEM("system") {
        Object parse(String s) {
            return JSON.parseObject(s, new TypeReference<List<SystemRule>>() {
            });
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        void register(SentinelProperty p) {
            SystemRuleManager.register2Property(p);
        }

        @SuppressWarnings("unchecked")
        void load(Object rules) {
            SystemRuleManager.loadRules((List<SystemRule>) rules);
        }

        Object rules() {
            return SystemRuleManager.getRules();
        }

        /** The merged thresholds the system checker applies (-1: not set). */
        Map<String, Object> extra() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("checkSystemStatus", SystemRuleManager.getCheckSystemStatus());
            m.put("highestSystemLoad", SystemRuleManager.getSystemLoadThreshold());
            m.put("highestCpuUsage", SystemRuleManager.getCpuUsageThreshold());
            m.put("qps", SystemRuleManager.getInboundQpsThreshold());
            m.put("avgRt", SystemRuleManager.getRtThreshold());
            m.put("maxThread", SystemRuleManager.getMaxThreadThreshold());
            return Out.obj("effective", m);
        }
    },
    AUTHORITY("authority") {
        Object parse(String s) {
            return JSON.parseObject(s, new TypeReference<List<AuthorityRule>>() {
            });
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        void register(SentinelProperty p) {
            AuthorityRuleManager.register2Property(p);
        }

        @SuppressWarnings("unchecked")
        void load(Object rules) {
            AuthorityRuleManager.loadRules((List<AuthorityRule>) rules);
        }

        Object rules() {
            return AuthorityRuleManager.getRules();
        }
    },
    GW_FLOW("gw-flow") {
        Object parse(String s) {
            return JSON.parseObject(s, new TypeReference<Set<GatewayFlowRule>>() {
            });
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        void register(SentinelProperty p) {
            GatewayRuleManager.register2Property(p);
        }

        @SuppressWarnings("unchecked")
        void load(Object rules) {
            GatewayRuleManager.loadRules((Set<GatewayFlowRule>) rules);
        }

        Object rules() {
            return GatewayRuleManager.getRules();
        }

        /** The param rules Java derives per resource, which is what it enforces. */
        Map<String, Object> extra() {
            Set<String> resources = new TreeSet<>();
            for (GatewayFlowRule r : GatewayRuleManager.getRules()) {
                resources.add(r.getResource());
            }
            Map<String, Object> converted = new LinkedHashMap<>();
            for (String res : resources) {
                converted.put(res, GatewayRuleManager.getConvertedParamRules(res));
            }
            return Out.obj("converted", converted);
        }
    },
    GW_API_GROUP("gw-api-group") {
        /**
         * Sentinel ships no converter for API definitions (ApiPredicateItem is
         * an interface); like Spring Cloud Alibaba, an item with "items" is a
         * group and one with "pattern" a path item.
         */
        Object parse(String s) {
            JSONArray arr = JSON.parseArray(s);
            if (arr == null) {
                return null;
            }
            Set<ApiDefinition> out = new HashSet<>();
            for (int i = 0; i < arr.size(); i++) {
                JSONObject o = arr.getJSONObject(i);
                ApiDefinition d = new ApiDefinition(o.getString("apiName"));
                JSONArray items = o.getJSONArray("predicateItems");
                if (items != null) {
                    Set<ApiPredicateItem> set = new HashSet<>();
                    for (int j = 0; j < items.size(); j++) {
                        ApiPredicateItem item = predicate(items.getJSONObject(j));
                        if (item != null) {
                            set.add(item);
                        }
                    }
                    d.setPredicateItems(set);
                }
                out.add(d);
            }
            return out;
        }

        private ApiPredicateItem predicate(JSONObject o) {
            if (o == null) {
                return null;
            }
            if (o.containsKey("items")) {
                ApiPredicateGroupItem g = new ApiPredicateGroupItem();
                JSONArray items = o.getJSONArray("items");
                if (items != null) {
                    for (int k = 0; k < items.size(); k++) {
                        ApiPredicateItem item = predicate(items.getJSONObject(k));
                        if (item != null) {
                            g.addItem(item);
                        }
                    }
                }
                return g;
            }
            if (o.containsKey("pattern")) {
                ApiPathPredicateItem p = new ApiPathPredicateItem().setPattern(o.getString("pattern"));
                Integer ms = o.getInteger("matchStrategy");
                if (ms != null) {
                    p.setMatchStrategy(ms);
                }
                return p;
            }
            return null;
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        void register(SentinelProperty p) {
            GatewayApiDefinitionManager.register2Property(p);
        }

        @SuppressWarnings("unchecked")
        void load(Object rules) {
            GatewayApiDefinitionManager.loadApiDefinitions((Set<ApiDefinition>) rules);
        }

        Object rules() {
            return GatewayApiDefinitionManager.getApiDefinitions();
        }
    };

    final String id;

    RuleFamily(String id) {
        this.id = id;
    }

    /** Parses a payload as the family's converter; null for a null or blank payload, as fastjson does. */
    abstract Object parse(String source);

    /** Hands the datasource's property to the family's rule manager. */
    @SuppressWarnings("rawtypes")
    abstract void register(SentinelProperty property);

    /** Loads parsed rules directly (no datasource). */
    abstract void load(Object rules);

    /** What the rule manager holds now. */
    abstract Object rules();

    /** Family-specific derived state printed beside the rules. */
    Map<String, Object> extra() {
        return null;
    }

    /** The manager's rules as fastjson text, as Sentinel's command API writes them. */
    String rulesJson() {
        return JSON.toJSONString(rules());
    }

    static RuleFamily of(String id) {
        for (RuleFamily f : values()) {
            if (f.id.equals(id)) {
                return f;
            }
        }
        StringBuilder b = new StringBuilder();
        for (RuleFamily f : values()) {
            b.append(b.length() == 0 ? "" : ", ").append(f.id);
        }
        throw new IllegalArgumentException("unknown rule family " + id + " (want " + b + ")");
    }
}
