package httpgw_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/gateway"
	"github.com/rulesync/rulesync/engine/gateway/httpgw"
)

// A route limited per client IP, and an API group limited as a whole to one
// call per hour.
func ExampleNew() {
	e := engine.New()
	defer e.Close()
	e.Gateway().LoadAPIs([]gateway.APIDefinition{{
		APIName:        "orders_api",
		PredicateItems: []gateway.PredicateItem{{Pattern: "/shop/orders/**", MatchStrategy: gateway.URLMatchPrefix}},
	}})
	perIP := gateway.DefaultRule()
	perIP.Resource, perIP.Count = "shop_route", 100
	perIP.ParamItem = &gateway.ParamItem{ParseStrategy: gateway.ParseClientIP}
	orders := gateway.DefaultRule()
	orders.Resource, orders.ResourceMode, orders.Count = "orders_api", gateway.ResourceModeCustomAPIName, 1
	orders.IntervalSec = 3600 // one call per hour
	e.Gateway().Load([]gateway.Rule{perIP, orders})

	mw := httpgw.New(e, httpgw.WithRouteID(func(r *http.Request) string {
		if strings.HasPrefix(r.URL.Path, "/shop/") {
			return "shop_route"
		}
		return ""
	}))
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))

	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/shop/orders/7", nil))
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 ok
	// 429 {"code":429,"message":"blocked by rulesync","resource":"orders_api"}
}
